package kube

import (
	"context"
	"errors"
	"fmt"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/hoistbot/hoist/internal/release"
)

// fail describes err, met while doing something in the cluster, in words
// that say what to do about it: a missing permission names itself (the API
// server's message says which verb on which resource), rejected credentials
// point at where they come from, and failures worth trying again later wrap
// release.ErrUnavailable.
func (cl *cluster) fail(doing string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s in cluster %s: %w", doing, cl.name, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s in cluster %s: the API server rejected Hoist's credentials (401); renew the token or certificate in %s: %w",
			doing, cl.name, cl.source, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s in cluster %s: Hoist lacks a permission; grant it to Hoist's account with RBAC: %w", doing, cl.name, err)
	case transient(err):
		return fmt.Errorf("%s in cluster %s: %w: %w", doing, cl.name, release.ErrUnavailable, err)
	}
	return fmt.Errorf("%s in cluster %s: %w", doing, cl.name, err)
}

// transient reports whether err is worth trying again later: the API
// server unreachable, overloaded, timing out, or failing (5xx). It is the
// one place that decides.
func transient(err error) bool {
	switch {
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err), utilnet.IsTimeout(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Code >= 500
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &opErr) || errors.As(err, &dnsErr)
}
