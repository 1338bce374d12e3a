package lambdart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
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
