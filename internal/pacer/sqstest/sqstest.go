// Package sqstest gives tests a queue of their own on the SQS emulator that
// scripts/sqs-emulator.sh runs (fauxqs on 127.0.0.1:4566). A missing
// emulator fails the test, never skips it: a suite that silently skips the
// admitter's tests proves nothing.
package sqstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// DefaultEndpoint is where scripts/sqs-emulator.sh starts the emulator.
const DefaultEndpoint = "http://127.0.0.1:4566"

// Region is the region the tests use; the emulator accepts any.
const Region = "us-east-1"

// Endpoint is the emulator's URL: AWS_ENDPOINT_URL_SQS when set, else
// DefaultEndpoint.
func Endpoint() string {
	if e := os.Getenv("AWS_ENDPOINT_URL_SQS"); e != "" {
		return e
	}
	return DefaultEndpoint
}

// Env is the environment an admitter process needs to reach the emulator:
// its endpoint, the region and dummy static credentials.
func Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_SQS=" + Endpoint(),
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Client returns an SQS client for the emulator.
func Client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Queue creates a queue with a unique name for the test and returns a client
// and the queue's URL; the queue is deleted when the test ends. It fails the
// test if the emulator does not answer.
func Queue(tb testing.TB) (*sqs.Client, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, Endpoint()+"/health", nil)
	if err != nil {
		tb.Fatalf("sqstest: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("sqstest: the SQS emulator at %s does not answer (%v): run scripts/sqs-emulator.sh start", Endpoint(), err)
	}
	_ = resp.Body.Close()

	c := Client()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test-" + hex.EncodeToString(b[:])
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		tb.Fatalf("sqstest: create queue %s at %s: %v (run scripts/sqs-emulator.sh start)", name, Endpoint(), err)
	}
	url := aws.ToString(out.QueueUrl)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
	})
	return c, url
}
