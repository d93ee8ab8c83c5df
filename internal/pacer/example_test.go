package pacer_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/pacer"
	"github.com/waitroom/waitroom/pkg/queue"
)

// An admitter: the SQS loop when a queue is configured, else the in-process
// timer. Either way, any number of them may run against the same Redis.
func Example() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	store := queue.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}), queue.Options{Logger: log})

	var p pacer.Pacer = pacer.NewLocal(store, pacer.LocalOptions{Options: pacer.Options{Logger: log}})
	if url := os.Getenv("SQS_QUEUE_URL"); url != "" {
		cfg, err := config.LoadDefaultConfig(ctx) // AWS_REGION, AWS_ENDPOINT_URL_SQS, credentials…
		if err != nil {
			log.Error("aws config", "err", err)
			return
		}
		if p, err = pacer.NewSQS(store, sqs.NewFromConfig(cfg), pacer.SQSOptions{
			Options:  pacer.Options{Logger: log},
			QueueURL: url,
		}); err != nil {
			log.Error("sqs pacer", "err", err)
			return
		}
	}
	_ = p.Run(ctx) // until ctx ends: here, forever
}
