package lazyctx

import (
	"context"
	"errors"
	"testing"
	"time"
)

type key struct{}

func TestDeadlineAndErrDoNotArm(t *testing.T) {
	d := time.Now().Add(time.Hour)
	ctx, cancel := WithDeadline(context.Background(), d)
	defer cancel()
	if got, ok := ctx.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline() = %v, %v; want %v, true", got, ok, d)
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err() before the deadline = %v", err)
	}
	if !Lazy(ctx) {
		t.Fatal("Deadline and Err started the timer")
	}
	if Lazy(context.Background()) {
		t.Fatal("Lazy(Background) = true")
	}
	std, stop := context.WithTimeout(context.Background(), time.Hour)
	defer stop()
	if Lazy(std) {
		t.Fatal("Lazy(context.WithTimeout) = true")
	}
}

func TestErrAfterDeadlineWithoutTimer(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(5 * time.Millisecond)
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err() after the deadline = %v; want DeadlineExceeded", err)
	}
	// Cancelling afterwards does not change the outcome.
	cancel()
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err() after a late cancel = %v; want DeadlineExceeded", err)
	}
	if !Lazy(ctx) {
		t.Fatal("Err started the timer")
	}
	// Asked for Done now, it is already done, with the same error.
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed for a context past its deadline")
	}
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err() once armed = %v; want DeadlineExceeded", err)
	}
}

func TestDoneClosesAtDeadline(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := ctx.Done()
	if Lazy(ctx) {
		t.Fatal("Done did not start the timer")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err() = %v; want DeadlineExceeded", err)
	}
}

func TestCancelBeforeAndAfterArming(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), time.Hour)
	cancel()
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err() after cancel = %v; want Canceled", err)
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done of a cancelled context is open")
	}
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err() once armed = %v; want Canceled", err)
	}

	ctx2, cancel2 := WithTimeout(context.Background(), time.Hour)
	done := ctx2.Done()
	cancel2()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not close Done of an armed context")
	}
	if err := ctx2.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err() = %v; want Canceled", err)
	}
}

func TestParentEndsChild(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx, cancel := WithTimeout(parent, time.Hour)
	defer cancel()
	cancelParent()
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err() after the parent's cancel = %v; want Canceled", err)
	}

	parent2, cancelParent2 := context.WithCancel(context.Background())
	ctx2, cancel2 := WithTimeout(parent2, time.Hour)
	defer cancel2()
	done := ctx2.Done()
	cancelParent2()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the parent's cancel did not reach an armed child")
	}
}

func TestEarlierParentDeadlineWins(t *testing.T) {
	pd := time.Now().Add(time.Minute)
	parent, cancelParent := context.WithDeadline(context.Background(), pd)
	defer cancelParent()
	ctx, cancel := WithDeadline(parent, pd.Add(time.Hour))
	defer cancel()
	if got, _ := ctx.Deadline(); !got.Equal(pd) {
		t.Fatalf("Deadline() = %v; want the parent's %v", got, pd)
	}
}

func TestValueAndDerivedContexts(t *testing.T) {
	ctx, cancel := WithTimeout(context.WithValue(context.Background(), key{}, "v"), time.Hour)
	if got := ctx.Value(key{}); got != "v" {
		t.Fatalf("Value = %v; want the parent's v", got)
	}
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(fired) })
	defer stop()
	cancel()
	for name, ch := range map[string]<-chan struct{}{"derived context": child.Done(), "AfterFunc": fired} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("cancel did not reach the %s", name)
		}
	}
	if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Cause = %v; want Canceled", err)
	}
}

// Lazy contexts nest: a child asked only for Err leaves its parent without
// a timer, and arming the child arms the parent.
func TestNested(t *testing.T) {
	parent, cancelParent := WithTimeout(context.Background(), time.Hour)
	defer cancelParent()
	ctx, cancel := WithTimeout(parent, time.Minute)
	defer cancel()
	if err := ctx.Err(); err != nil {
		t.Fatal(err)
	}
	if !Lazy(parent) || !Lazy(ctx) {
		t.Fatal("Err started a timer")
	}
	_ = ctx.Done()
	if Lazy(ctx) || Lazy(parent) {
		t.Fatalf("after Done: child lazy %v, parent lazy %v; want both timers started", Lazy(ctx), Lazy(parent))
	}
	cancelParent()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the parent's cancel did not reach the child")
	}
}
