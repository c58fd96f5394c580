package configs

import (
	"bytes"
	"os"
	"testing"
)

func TestExampleIsTheFile(t *testing.T) {
	file, err := os.ReadFile("hoist.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := Example()
	if !bytes.Equal(got, file) {
		t.Fatal("Example() differs from hoist.example.yaml")
	}
	got[0] = '!'
	if !bytes.Equal(Example(), file) {
		t.Fatal("changing Example()'s result changed the embedded configuration")
	}
}
