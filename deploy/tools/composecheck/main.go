// Command composecheck validates a Compose file without a container engine.
//
// It loads the file with the Compose Specification's reference loader (compose-go): the JSON
// Schema of the specification, variable interpolation, normalization and the consistency checks
// that `docker compose config` runs. On success it prints the normalized project as JSON on
// stdout and exits 0; on any error it prints the error on stderr and exits 1.
//
//	composecheck [-env-file FILE]... [-raw] [-os-env] compose.yaml
//
// Interpolation variables come only from -env-file files (and the process environment with
// -os-env), so the result does not depend on whoever runs the check. -raw prints the model
// before interpolation instead (still schema-validated), which shows where a value comes from.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var envFiles multiFlag
	flag.Var(&envFiles, "env-file", "file of KEY=VALUE interpolation variables (repeatable)")
	raw := flag.Bool("raw", false, "print the validated model before interpolation")
	osEnv := flag.Bool("os-env", false, "also take interpolation variables from this process's environment")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-env-file FILE]... [-raw] [-os-env] compose.yaml")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := load(flag.Arg(0), envFiles, *raw, *osEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}

func load(path string, envFiles []string, raw, osEnv bool) ([]byte, error) {
	opts := []cli.ProjectOptionsFn{
		// An empty list would make compose-go look for a .env beside the file: be explicit.
		cli.WithEnvFiles(append([]string{os.DevNull}, envFiles...)...),
		cli.WithDotEnv,
		cli.WithResolvedPaths(true),
	}
	if osEnv {
		opts = append(opts, cli.WithOsEnv)
	}
	if raw {
		opts = append(opts, cli.WithInterpolation(false))
	}
	options, err := cli.NewProjectOptions([]string{path}, opts...)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if raw {
		model, err := options.LoadModel(ctx)
		if err != nil {
			return nil, err
		}
		return json.MarshalIndent(model, "", "  ")
	}
	project, err := options.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	return project.MarshalJSON()
}
