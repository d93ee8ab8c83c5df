package queue

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/redis/go-redis/v9"
)

// subscribeBuffer is how many messages of a room's channel wait for a
// subscriber that is busy (resynchronising, say). One that finds it full for
// a minute is dropped; the subscriber sees the gap in the versions.
const subscribeBuffer = 1000

// Delivery is one item of a room's subscription, in the order Redis
// delivered them. Exactly one of its fields is set.
type Delivery struct {
	// Event is what changed in the room.
	Event Event
	// Resubscribed reports that the connection to Redis was lost and the
	// subscription is restored: the events published in between are lost,
	// and the subscriber must resynchronise.
	Resubscribed bool
	// Err reports a message on the room's channel that is not an event.
	Err error
}

// Subscribe subscribes to the room's events and returns once Redis has
// confirmed it, so that every event published from then on is delivered on
// out, parsed and in order. ctx bounds the wait for that confirmation, as it
// bounds a dial; the subscription then lasts until Close, after which nothing
// more is sent on out (which Subscribe never closes). A lost connection is
// restored by itself and reported as a Delivery with Resubscribed set.
// Errors: ErrInvalidRoom, ErrUnavailable.
func (s *Store) Subscribe(ctx context.Context, room string, out chan<- Delivery) (io.Closer, error) {
	if !ValidRoomID(room) {
		return nil, ErrInvalidRoom
	}
	ps := s.rdb.Subscribe(ctx, Channel(room))
	msg, err := ps.Receive(ctx)
	if err == nil {
		if _, ok := msg.(*redis.Subscription); !ok {
			err = fmt.Errorf("got %T, want the subscription's confirmation", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return nil, storeErr("subscribe", err)
	}
	sub := &subscription{ps: ps, done: make(chan struct{}), ended: make(chan struct{})}
	go sub.forward(ps.ChannelWithSubscriptions(redis.WithChannelSize(subscribeBuffer)), out)
	return sub, nil
}

// subscription forwards a PubSub's messages, parsed, until Close.
type subscription struct {
	ps    *redis.PubSub
	done  chan struct{} // closed by Close
	ended chan struct{} // closed when forward returns
	once  sync.Once
	err   error
}

func (s *subscription) forward(in <-chan any, out chan<- Delivery) {
	defer close(s.ended)
	for {
		var m any
		var ok bool
		select {
		case <-s.done:
			return
		case m, ok = <-in:
		}
		if !ok {
			return // the client was closed
		}
		var d Delivery
		switch m := m.(type) {
		case *redis.Subscription:
			// The first confirmation was read by Subscribe: this one
			// follows a reconnect.
			if m.Kind != "subscribe" {
				continue
			}
			d.Resubscribed = true
		case *redis.Message:
			d.Event, d.Err = ParseEvent([]byte(m.Payload))
		default:
			continue
		}
		select {
		case <-s.done:
			return
		case out <- d:
		}
	}
}

// Close ends the subscription; once it returns, nothing more is delivered.
func (s *subscription) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.err = s.ps.Close()
		<-s.ended
	})
	return s.err
}
