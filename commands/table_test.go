package commands

import (
	"slices"
	"strings"
	"testing"
)

func TestNewTableRefusesDuplicateVerbs(t *testing.T) {
	specs := append(Specs(), Spec{Verb: VerbDeploy, Args: "APP", Summary: "Again.", Example: "deploy api"})
	_, err := newTable(specs)
	if err == nil || !strings.Contains(err.Error(), `duplicate verb "deploy"`) {
		t.Fatalf("newTable with two deploys: err = %v, want duplicate verb", err)
	}
}

func TestMustTablePanicsOnDuplicate(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("mustTable with a duplicate verb did not panic")
		}
	}()
	spec := Spec{Verb: VerbStatus, Args: "[APP]", Summary: "Status.", Example: "status"}
	mustTable([]Spec{spec, spec})
}

func TestNewTableRefusesBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []Spec
		want  string
	}{
		{"empty verb", []Spec{{Verb: "", Example: ""}}, "lower-case words"},
		{"upper-case verb", []Spec{{Verb: "Deploy", Example: "Deploy"}}, "lower-case words"},
		{"three words", []Spec{{Verb: "env up now", Example: "env up now"}}, "lower-case words"},
		{"group beside verb", []Spec{{Verb: "env", Example: "env"}, {Verb: "env up", Example: "env up"}}, "clashes"},
		{"verb beside group", []Spec{{Verb: "env up", Example: "env up"}, {Verb: "env", Example: "env"}}, "clashes"},
		{"duplicate sub-verb", []Spec{{Verb: "env up", Example: "env up"}, {Verb: "env up", Example: "env up"}}, "duplicate"},
		{"unknown placeholder", []Spec{{Verb: "x", Args: "THING", Example: "x a"}}, "neither a placeholder"},
		{"unclosed group", []Spec{{Verb: "x", Args: "APP [ENV", Example: "x a"}}, "unclosed"},
		{"unmatched bracket", []Spec{{Verb: "x", Args: "APP ENV]", Example: "x a b"}}, "unmatched"},
		{"empty group", []Spec{{Verb: "x", Args: "APP []", Example: "x a"}}, "empty"},
		{"optional not last", []Spec{{Verb: "x", Args: "[APP] ENV", Example: "x a"}}, "must end"},
		{"rest not last", []Spec{{Verb: "x", Args: "reason... ENV", Example: "x a"}}, "must come last"},
		{"dangling keyword", []Spec{{Verb: "x", Args: "APP [to]", Example: "x a"}}, "followed by a placeholder"},
		{"placeholder twice", []Spec{{Verb: "x", Args: "APP [APP]", Example: "x a"}}, "twice"},
		{"bad example", []Spec{{Verb: "x", Args: "APP", Example: "x"}}, "example"},
		{"example of another verb", []Spec{{Verb: "x", Args: "[APP]", Example: "y"}, {Verb: "y", Example: "y"}}, "example"},
	} {
		_, err := newTable(tc.specs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestNewTableAcceptsOtherGrammars(t *testing.T) {
	tab, err := newTable([]Spec{
		{Verb: "ship", Args: "APP to ENV [reason...]", Example: "ship api to prod because"},
		{Verb: "env up", Args: "APP BRANCH", Example: "env up api main"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := tab.parse("ship api prod")
	if !strings.Contains(r.Reply, "Expected `to` before `prod`.") || !strings.Contains(r.Reply, "Did you mean `/hoist ship api to prod`?") {
		t.Errorf("required keyword: reply %q", r.Reply)
	}
	if r := tab.parse("ship api"); !strings.Contains(r.Reply, "Missing `to`.") {
		t.Errorf("missing required keyword: reply %q", r.Reply)
	}
	if r := tab.parse("ship api to prod no rush"); r.Command == nil || r.Command.Reason != "no rush" {
		t.Errorf("got %+v", r)
	}
}

func TestSpecsAreTheTable(t *testing.T) {
	specs := Specs()
	if len(specs) != len(builtin.specs) {
		t.Fatalf("Specs() has %d entries, the table %d", len(specs), len(builtin.specs))
	}
	want := []Verb{VerbDeploy, VerbEnvUp, VerbEnvDown, VerbEnvList, VerbPromote, VerbRollback, VerbStatus,
		VerbHistory, VerbLock, VerbUnlock, VerbApprove, VerbDeny, VerbCancel, VerbHelp}
	var got []Verb
	for _, s := range specs {
		got = append(got, s.Verb)
		if s.Summary == "" || s.Example == "" {
			t.Errorf("%s: missing summary or example", s.Verb)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("verbs = %v, want %v", got, want)
	}
	specs[0].Verb = "changed"
	if Specs()[0].Verb != VerbDeploy {
		t.Error("changing the result of Specs changed the table")
	}
}

func TestExamplesParse(t *testing.T) {
	for _, s := range Specs() {
		r := Parse(s.Example)
		if r.Command == nil || r.Command.Verb != s.Verb {
			t.Errorf("example %q: got %+v", s.Example, r)
		}
	}
}
