// Command genremediators writes terraform/remediators.json from the
// remediator definitions and the state store's schema
// (terraform.ModuleInputs; go generate ./terraform runs it).
package main

import (
	"fmt"
	"os"

	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/terraform"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genremediators OUTPUT.json")
		os.Exit(2)
	}
	b, err := terraform.ModuleInputs(remediators.Definitions())
	if err != nil {
		fmt.Fprintf(os.Stderr, "genremediators: rendering the module's inputs: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], b, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "genremediators: %v\n", err)
		os.Exit(1)
	}
}
