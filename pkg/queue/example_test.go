package queue_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/pkg/queue"
)

// A room that queues everyone: two visitors join, one tick admits the first
// (batch size 1), and the second moves up to position 1. miniredis stands in
// for Redis here; in production pass a *redis.Client or *redis.ClusterClient.
func Example() {
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	ctx := context.Background()
	store := queue.New(rdb, queue.Options{})
	mode, batch := queue.ModeQueueAll, 1
	if _, _, err := store.PutRoom(ctx, "concert", queue.ConfigPatch{Mode: &mode, BatchSize: &batch}); err != nil {
		panic(err)
	}

	alice, _, err := store.Join(ctx, "concert", queue.JoinRequest{})
	if err != nil {
		panic(err)
	}
	bob, _, err := store.Join(ctx, "concert", queue.JoinRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Println(alice.State, alice.Position, bob.State, bob.Position)

	ev, err := store.Tick(ctx, "concert")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(ev.Admitted), ev.Admitted[0].Ticket == alice.Ticket, ev.Waiting)

	bob, err = store.Status(ctx, "concert", bob.Ticket)
	fmt.Println(bob.State, bob.Position, err)
	// Output:
	// waiting 1 waiting 2
	// 1 true 1
	// waiting 1 <nil>
}
