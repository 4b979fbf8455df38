package memory

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestVirtualClock(t *testing.T) {
	clk := NewVirtualClock(epoch)
	ctx := context.Background()
	if err := clk.Sleep(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := clk.Now(); !got.Equal(epoch.Add(3 * time.Second)) {
		t.Fatalf("after Sleep(3s) Now = %v", got)
	}
	clk.Advance(-time.Hour)
	if got := clk.Now(); !got.Equal(epoch.Add(3 * time.Second)) {
		t.Fatalf("negative Advance moved the clock to %v", got)
	}
	clk.Set(epoch)
	if got := clk.Now(); !got.Equal(epoch) {
		t.Fatalf("after Set Now = %v", got)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := clk.Sleep(cctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with cancelled ctx = %v", err)
	}
	if got := clk.Now(); !got.Equal(epoch) {
		t.Fatalf("cancelled Sleep moved the clock to %v", got)
	}
}

func TestRealClockSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (RealClock{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	if err := (RealClock{}).Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
}
