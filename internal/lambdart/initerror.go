package lambdart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"
)

// ReportInitError posts err to the Runtime API's /runtime/init/error, the
// call aws-lambda-go does not make: a function that fails before
// lambda.Start then shows its own errorType and errorMessage to the invoker
// instead of Lambda's generic Runtime.ExitError. api is the value of
// AWS_LAMBDA_RUNTIME_API; errorType should be a short word such as
// "ConfigurationError". The caller still exits non-zero afterwards.
func ReportInitError(api, errorType string, err error) error {
	body, _ := json.Marshal(Error{Message: err.Error(), Type: errorType}) // strings always marshal
	req, rerr := http.NewRequest(http.MethodPost, "http://"+api+apiPrefix+"init/error", bytes.NewReader(body))
	if rerr != nil {
		return fmt.Errorf("reporting the init error to the Lambda Runtime API: %w", rerr)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderErrorType, errorType)
	resp, rerr := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if rerr != nil {
		return fmt.Errorf("reporting the init error to the Lambda Runtime API: %w", rerr)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("reporting the init error to the Lambda Runtime API: status %s", resp.Status)
	}
	return nil
}

// Main is the body of a Lambda function's main: it runs start (which wires
// the function and calls lambda.Start, returning only on a set-up error),
// and when start fails prints the error, reports it with ReportInitError
// when running under the Runtime API, and exits 1.
func Main(name string, start func(context.Context) error) {
	err := start(context.Background())
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
		if rerr := ReportInitError(api, "InitError", err); rerr != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, rerr)
		}
	}
	os.Exit(1)
}
