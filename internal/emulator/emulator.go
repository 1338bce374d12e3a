// Package emulator starts and stops a local moto_server, the AWS emulator
// the tests and the demo run against.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/autoremediate/autoremediate/internal/syncbuf"
)

// Region and Account are what the emulator is used with.
const (
	Region  = "us-east-1"
	Account = "123456789012" // moto's default account
)

// Server is a running moto_server.
type Server struct {
	URL  string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	once sync.Once
	err  error
}

// ErrNotInstalled is returned when moto_server is not on PATH.
var ErrNotInstalled = errors.New("moto_server not found on PATH (install it with `make tools`, which runs pip install 'moto[server]')")

// Start runs moto_server on a free loopback port and waits until it answers.
func Start(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("finding a free port for moto_server: %w", err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), out: &syncbuf.Buffer{Max: 1 << 20}, done: make(chan struct{})}
	// Not CommandContext: the server must outlive a cancelled start context
	// only until Stop; Stop kills its whole process group.
	s.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("moto_server exited during start-up: %v\n%s", s.err, s.out.String())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("moto_server did not answer on %s within 60s:\n%s", s.URL, s.out.String())
		}
	}
}

// Stop ends the server. It is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.cmd.Process != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.done
			}
		}
	})
}

// Reset clears every resource in the emulator.
func (s *Server) Reset() error {
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("resetting moto_server: %w", err)
	}
	resp.Body.Close()
	return nil
}

// Log returns what the server printed so far.
func (s *Server) Log() string { return s.out.String() }

// AWSConfig returns an SDK configuration pointing at the server with dummy
// credentials. S3 clients built from it still need UsePathStyle.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint:     aws.String(s.URL),
		RetryMaxAttempts: 3,
	}
}

// Env returns the environment variables that point the SDK (and the aws
// CLI) at the server, for child processes.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
