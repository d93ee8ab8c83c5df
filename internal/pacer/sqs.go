package pacer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/pkg/queue"
)

// SQSAPI is the part of *sqs.Client the loop uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SQSOptions configure the SQS loop. Every field's zero value means its
// default, except QueueURL.
type SQSOptions struct {
	Options
	// QueueURL is the loop's queue. Required.
	QueueURL string
	// VisibilityTimeout hides a received message from other admitters; a
	// message whose admitter died comes back after it. Whole seconds,
	// 1s–12h. Default 30s.
	VisibilityTimeout time.Duration
	// WaitTime is the long poll of one receive: how long a stop may wait
	// for the receive in flight. Whole seconds, 1s–20s. Default 1s.
	WaitTime time.Duration
	// Slack is how much later than its visibility timeout a loop may be
	// before the watchdog declares it dead. Default 2s.
	Slack time.Duration
	// MaxInFlight bounds the messages handled at once. Default 1000.
	MaxInFlight int
}

// holdMS is how early a loop message may arrive and still be claimed; the
// claimer then waits for the due time. The next message is sent to arrive
// up to 0.9 s early (see delaySeconds) and, under a one-second interval,
// up to one second early.
const holdMS = 2000

func (o SQSOptions) withDefaults() SQSOptions {
	o.Options = o.Options.withDefaults()
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.WaitTime == 0 {
		o.WaitTime = time.Second
	}
	if o.Slack == 0 {
		o.Slack = 2 * time.Second
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 1000
	}
	return o
}

func (o SQSOptions) validate() error {
	for _, rule := range []struct {
		ok  bool
		why string
	}{
		{o.QueueURL != "", "QueueURL is required"},
		{wholeSeconds(o.VisibilityTimeout, time.Second, 12*time.Hour),
			fmt.Sprintf("VisibilityTimeout must be whole seconds from 1s to 12h, got %s", o.VisibilityTimeout)},
		{wholeSeconds(o.WaitTime, time.Second, 20*time.Second),
			fmt.Sprintf("WaitTime must be whole seconds from 1s to 20s, got %s", o.WaitTime)},
		{o.Slack >= 0, fmt.Sprintf("Slack must not be negative, got %s", o.Slack)},
		{o.MaxInFlight >= 1, fmt.Sprintf("MaxInFlight must be at least 1, got %d", o.MaxInFlight)},
	} {
		if !rule.ok {
			return errors.New("pacer: " + rule.why)
		}
	}
	return nil
}

// wholeSeconds reports whether d is a whole number of seconds in [lo, hi]:
// what SQS takes.
func wholeSeconds(d, lo, hi time.Duration) bool {
	return d >= lo && d <= hi && d%time.Second == 0
}

// grace is how late past its due time a loop may be before it counts as
// dead: a message whose receiver died before claiming it comes back after
// the visibility timeout.
func (o SQSOptions) grace() time.Duration { return o.VisibilityTimeout + o.Slack }

// keep is how long a fence outlives its due time (see lua/claim.lua).
func (o SQSOptions) keep() time.Duration { return 2*o.grace() + time.Minute }

// LoopMessage is the body of a room's loop message: the room and the fence
// position it stands for. Exported for tests and tools that inspect the
// queue.
type LoopMessage struct {
	Room string `json:"room"`
	Gen  int64  `json:"gen"`
	Seq  int64  `json:"seq"`
}

// SQS paces ticks with an SQS delay loop: one message per room in flight;
// whoever receives it claims it in Redis, ticks, sends the next with
// DelaySeconds from interval_ms, and deletes it. See the package doc.
type SQS struct {
	store Store
	sqs   SQSAPI
	opt   SQSOptions
	log   *slog.Logger
}

// NewSQS returns the SQS pacer over store and client. Errors: an invalid
// option.
func NewSQS(store Store, client SQSAPI, opt SQSOptions) (*SQS, error) {
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	return &SQS{store: store, sqs: client, opt: opt, log: opt.Logger.With("pacer", "sqs")}, nil
}

// Run receives and handles loop messages, and watches over every room's
// loop, until ctx ends; then it waits (at most ShutdownTimeout) for the
// messages in hand to be handled: ticks in flight finish and their loops
// are handed on. It returns nil.
func (p *SQS) Run(ctx context.Context) error {
	// Handlers outlive ctx, so a stop never leaves a loop claimed but not
	// handed on; hcancel ends them only when the shutdown timeout is up.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	var wg sync.WaitGroup
	wg.Go(func() { p.watchdog(ctx, hctx) })
	p.receive(ctx, hctx, &wg)
	p.opt.drain(p.log, &wg, hcancel, "the messages in hand; their loops recover after the visibility timeout")
	return nil
}

// receive long-polls the queue and hands each message to its own goroutine
// until ctx ends.
func (p *SQS) receive(ctx, hctx context.Context, wg *sync.WaitGroup) {
	sem := make(chan struct{}, p.opt.MaxInFlight)
	bo := backoff{min: 200 * time.Millisecond, max: 10 * time.Second}
	for ctx.Err() == nil {
		// Not cancelled by ctx: a receive cut short may have taken messages
		// that nobody would see again for a visibility timeout.
		rctx, cancel := context.WithTimeout(hctx, p.opt.WaitTime+30*time.Second)
		out, err := p.sqs.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(p.opt.QueueURL),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     int32(p.opt.WaitTime / time.Second),
			VisibilityTimeout:   int32(p.opt.VisibilityTimeout / time.Second),
		})
		cancel()
		if err != nil {
			d := bo.next()
			p.log.Warn("receive loop messages", "err", err, "retry_in", d)
			sleep(ctx, d)
			continue
		}
		bo.reset()
		for _, m := range out.Messages {
			if ctx.Err() != nil {
				// Stopping: put it back for another admitter at once.
				p.setVisibility(hctx, p.log, m, 0)
				continue
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				p.handle(hctx, m)
			})
		}
	}
}

// handle runs one loop message: claim, tick(s), send the next, delete.
func (p *SQS) handle(ctx context.Context, m types.Message) {
	var msg LoopMessage
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err != nil || !queue.ValidRoomID(msg.Room) {
		p.log.Warn("deleting a message that is not a loop message", "body", aws.ToString(m.Body))
		p.delete(ctx, p.log, m)
		return
	}
	log := p.log.With("room", msg.Room, "gen", msg.Gen, "seq", msg.Seq)

	cfg, err := p.store.Room(ctx, msg.Room)
	if gone(err) {
		p.end(ctx, log, msg)
		p.delete(ctx, log, m)
		return
	}
	if err != nil {
		log.Warn("read room config; the message comes back shortly", "err", err)
		p.setVisibility(ctx, log, m, 2)
		return
	}
	r, err := runScript[claimReply](ctx, p.store, claimScript, loopKey(msg.Room),
		msg.Gen, msg.Seq, cfg.IntervalMS, holdMS, ms(p.opt.keep()))
	claimedAt := time.Now() // Redis's "now" of the claim, on the monotonic clock
	if err == nil && r.Outcome != claimed && r.Outcome != claimEarly && r.Outcome != claimStale {
		err = fmt.Errorf("%s: %w: outcome %q", claimScript.Name(), luascript.ErrBadReply, r.Outcome)
	}
	if err != nil {
		log.Warn("claim loop message; it comes back shortly", "err", err)
		p.setVisibility(ctx, log, m, 2)
		return
	}
	switch r.Outcome {
	case claimStale:
		log.Debug("stale or duplicate loop message: deleted without a tick")
		p.delete(ctx, log, m)
		return
	case claimEarly:
		// Due later than SQS could delay it: hide it until then.
		p.setVisibility(ctx, log, m, delaySeconds(time.Duration(r.WaitMS)*time.Millisecond, 43200))
		return
	}
	wait := time.Duration(r.WaitMS) * time.Millisecond
	ticks := int(r.Ticks)
	next := time.Duration(r.NextMS) * time.Millisecond
	iv := cfg.Interval()
	for i := range ticks {
		at := claimedAt.Add(wait + time.Duration(i)*iv)
		if !sleep(ctx, time.Until(at)) {
			// The shutdown timeout is up: nothing more can be sent, and
			// the watchdog of another admitter re-seeds the loop.
			return
		}
		if late := time.Since(at); i > 0 && late > catchup(iv) {
			// The tick before ran late (a slow store): this one's time is
			// lost, as claim.lua loses a late message's, rather than
			// crowded behind it.
			log.Debug("tick skipped: the one before ran late", "late", late)
			continue
		}
		if err := p.opt.tick(ctx, p.store, msg.Room); err != nil {
			if gone(err) {
				p.end(ctx, log, msg)
				p.delete(ctx, log, m)
				return
			}
			log.Error("tick", "err", err) // the loop goes on: the next tick tries again
		}
	}
	p.send(ctx, log, LoopMessage{Room: msg.Room, Gen: msg.Gen, Seq: msg.Seq + 1},
		delaySeconds(next-time.Since(claimedAt), 900), p.opt.grace())
	p.delete(ctx, log, m)
}

// delaySeconds is how long SQS should hide a message that is due in d: whole
// seconds, rounded up from 0.9 s so that a message arrives at most 0.1 s late
// (and the claimer waits for one that comes up to 0.9 s early), within
// [0, most].
func delaySeconds(d time.Duration, most int32) int32 {
	s := (d + 100*time.Millisecond) / time.Second
	return int32(max(0, min(s, time.Duration(most))))
}

// end removes the loop's fence: its room is gone.
func (p *SQS) end(ctx context.Context, log *slog.Logger, msg LoopMessage) {
	r, err := runScript[endReply](ctx, p.store, endScript, loopKey(msg.Room), msg.Gen)
	if err != nil {
		log.Warn("end loop of a deleted room", "err", err) // the fence expires by itself
		return
	}
	if r.Ended {
		log.Info("room deleted: loop ended")
	}
}

// watchdog seeds every room that has no live loop, about every RoomsEvery,
// until ctx ends. Its sends run on hctx, so a stop does not cut one short.
func (p *SQS) watchdog(ctx, hctx context.Context) {
	for {
		p.watch(hctx)
		if !sleep(ctx, jitter(p.opt.RoomsEvery)) {
			return
		}
	}
}

// watch runs one watchdog pass over every room.
func (p *SQS) watch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rooms, err := p.store.Rooms(ctx)
	if err != nil {
		p.log.Warn("watchdog: list rooms", "err", err)
		return
	}
	calls := make([]luascript.Call, len(rooms))
	for i, rc := range rooms {
		calls[i] = luascript.Call{Keys: []string{loopKey(rc.Room)},
			Args: []any{rc.Config.IntervalMS, ms(p.opt.grace()), ms(p.opt.keep())}}
	}
	vals, errs := p.store.RunScript(ctx, watchScript, calls...)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, rc := range rooms {
		r, err := luascript.Decode[watchReply](watchScript, vals[i], errs[i])
		if err == nil && r.Loop != loopLive && (r.Gen <= 0 || r.Loop != loopNew && r.Loop != loopSilent) {
			err = fmt.Errorf("%s: %w: %+v", watchScript.Name(), luascript.ErrBadReply, r)
		}
		if err != nil {
			p.log.Warn("watchdog: check loop", "room", rc.Room, "err", err)
			continue
		}
		if r.Loop == loopLive {
			continue
		}
		log := p.log.With("room", rc.Room, "gen", r.Gen, "seq", 0)
		if r.Loop == loopNew {
			log.Info("seeding the room's loop")
		} else {
			log.Warn("the room's loop went silent: re-seeding it")
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.send(ctx, log, LoopMessage{Room: rc.Room, Gen: r.Gen, Seq: 0}, 0, 5*time.Second)
		})
	}
	wg.Wait()
}

// send sends a loop message, retrying with backoff for up to giveUp. A loop
// whose message could not be sent goes silent, and the watchdog re-seeds it.
func (p *SQS) send(ctx context.Context, log *slog.Logger, msg LoopMessage, delay int32, giveUp time.Duration) {
	body, err := json.Marshal(msg)
	if err != nil {
		log.Error("encode loop message", "err", err) // cannot happen: plain fields
		return
	}
	deadline := time.Now().Add(giveUp)
	bo := backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	for {
		_, err := p.sqs.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:     aws.String(p.opt.QueueURL),
			MessageBody:  aws.String(string(body)),
			DelaySeconds: delay,
		})
		if err == nil {
			return
		}
		d := bo.next()
		if time.Now().Add(d).After(deadline) || ctx.Err() != nil {
			log.Error("send loop message: giving up, the watchdog will re-seed the loop", "err", err)
			return
		}
		log.Warn("send loop message", "err", err, "retry_in", d)
		sleep(ctx, d)
	}
}

// delete deletes a received message, retrying a few times. One that stays
// comes back after the visibility timeout, finds the fence moved on, and is
// deleted then.
func (p *SQS) delete(ctx context.Context, log *slog.Logger, m types.Message) {
	bo := backoff{min: 100 * time.Millisecond, max: time.Second}
	for attempt := 1; ; attempt++ {
		_, err := p.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{
			QueueUrl:      aws.String(p.opt.QueueURL),
			ReceiptHandle: m.ReceiptHandle,
		})
		if err == nil {
			return
		}
		if attempt == 3 || ctx.Err() != nil {
			log.Warn("delete loop message", "err", err)
			return
		}
		sleep(ctx, bo.next())
	}
}

// setVisibility makes a received message visible again in secs seconds.
func (p *SQS) setVisibility(ctx context.Context, log *slog.Logger, m types.Message, secs int32) {
	_, err := p.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(p.opt.QueueURL),
		ReceiptHandle:     m.ReceiptHandle,
		VisibilityTimeout: secs,
	})
	if err != nil {
		log.Warn("change loop message visibility; it comes back after the visibility timeout", "err", err)
	}
}
