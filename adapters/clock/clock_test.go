package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Real{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with a done context = %v, want context.Canceled", err)
	}
	if err := (Real{}).Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
	before := (Real{}).Now()
	if err := (Real{}).Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if !(Real{}).Now().After(before) {
		t.Fatal("time did not pass across a sleep")
	}
}
