package kube_test

import (
	"testing"

	"github.com/hoistbot/hoist/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }
