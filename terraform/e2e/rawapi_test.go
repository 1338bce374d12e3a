package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/internal/emulator"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rawAPI calls the AWS JSON and REST-JSON APIs of the services whose SDK
// modules the repository does not otherwise need (Config, Lambda,
// EventBridge Scheduler, KMS, CloudWatch Logs): a handful of read calls,
// signed like the SDK signs them (moto routes a request to its service by
// the credential scope of the signature).
type rawAPI struct {
	srv *emulator.Server
}

// call sends one request; in is the JSON body (nil for none) and out, when
// not nil, receives the JSON response. An HTTP 404 is errNotFound.
func (r rawAPI) call(ctx context.Context, service, method, path string, headers map[string]string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	cfg := r.srv.AWSConfig()
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", service, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNotFound || (resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b), "NotFound")) {
		return fmt.Errorf("%s %s %s: %w: %s", service, method, path, errNotFound, b)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s %s: HTTP %d: %s", service, method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s %s: decoding %s: %w", service, method, path, b, err)
		}
	}
	return nil
}

// target calls an awsJson API operation (X-Amz-Target).
func (r rawAPI) target(ctx context.Context, service, target string, in, out any) error {
	return r.call(ctx, service, http.MethodPost, "/", map[string]string{
		"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
	}, in, out)
}

// Config (StarlingDoveService).
func (r rawAPI) config(ctx context.Context, op string, out any) error {
	return r.target(ctx, "config", "StarlingDoveService."+op, map[string]any{}, out)
}

// KMS (TrentService).
func (r rawAPI) kms(ctx context.Context, op string, in, out any) error {
	return r.target(ctx, "kms", "TrentService."+op, in, out)
}

// CloudWatch Logs.
func (r rawAPI) logs(ctx context.Context, op string, in, out any) error {
	return r.target(ctx, "logs", "Logs_20140328."+op, in, out)
}

// Lambda and Scheduler are REST-JSON: a GET of a path.
func (r rawAPI) get(ctx context.Context, service, path string, out any) error {
	return r.call(ctx, service, http.MethodGet, path, nil, nil, out)
}
