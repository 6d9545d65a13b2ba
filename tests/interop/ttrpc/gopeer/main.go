// SPDX-License-Identifier: Apache-2.0
// The Go side of wharf's ttrpc interop test and benchmark, built offline in GOPATH mode against
// Debian's containerd/ttrpc and gogo sources (never cached in the repository).
//
//	gopeer check SOCKET SERVER_PID   calls wharf's peer server and checks every answer
//	gopeer serve SOCKET              a Go ttrpc Task server for the benchmark and for our client
//	gopeer bench SOCKET CONNS SECS   one call in flight per connection; prints results
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/runtime/v2/task"
	"github.com/containerd/ttrpc"
	ptypes "github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func dial(sock string) (*ttrpc.Client, error) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	return ttrpc.NewClient(conn), nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gopeer check: "+format+"\n", args...)
	os.Exit(1)
}

func check(sock string, serverPid int) {
	c, err := dial(sock)
	if err != nil {
		fail("dial: %v", err)
	}
	defer c.Close()
	t := task.NewTaskClient(c)
	bg := context.Background()

	// Metadata travels to the handler.
	ctx := ttrpc.WithMetadata(bg, ttrpc.MD{"containerd-namespace": []string{"wharf-ns"}})
	cr, err := t.Connect(ctx, &task.ConnectRequest{ID: "x"})
	if err != nil {
		fail("Connect: %v", err)
	}
	if int(cr.ShimPid) != serverPid || cr.TaskPid != 4242 || cr.Version != "wharf-ns" {
		fail("Connect answer %+v", cr)
	}
	cr, err = t.Connect(bg, &task.ConnectRequest{ID: "x"})
	if err != nil || cr.Version != "none" {
		fail("Connect without metadata: %v %+v", err, cr)
	}

	// Every field of State, the timestamp included.
	st, err := t.State(bg, &task.StateRequest{ID: "c1", ExecID: "e1"})
	if err != nil {
		fail("State: %v", err)
	}
	want := time.Unix(1700000000, 5).UTC()
	if st.ID != "c1" || st.ExecID != "e1" || st.Bundle != "/bundle/c1" || st.Pid != 7 ||
		st.Status != 2 || st.Stdin != "in" || !st.Terminal || !st.ExitedAt.Equal(want) {
		fail("State answer %+v", st)
	}

	// Error statuses map as containerd's errdefs expect.
	_, err = t.Kill(bg, &task.KillRequest{ID: "missing", Signal: 9})
	if s, _ := status.FromError(err); s.Code() != codes.NotFound || s.Message() != "container missing: not found" {
		fail("Kill missing: %v", err)
	}
	if !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
		fail("Kill missing is not errdefs.NotFound: %v", err)
	}
	if _, err = t.Kill(bg, &task.KillRequest{ID: "ok", Signal: 9}); err != nil {
		fail("Kill: %v", err)
	}
	_, err = t.Pids(bg, &task.PidsRequest{ID: "c1"})
	if s, _ := status.FromError(err); s.Code() != codes.Unimplemented || s.Message() != "method Pids" {
		fail("Pids: %v", err)
	}

	// An oversize request: our server skips it, answers ResourceExhausted, the connection lives.
	_, err = t.State(bg, &task.StateRequest{ID: strings.Repeat("x", 5<<20)})
	if s, _ := status.FromError(err); s.Code() != codes.ResourceExhausted ||
		!strings.HasPrefix(s.Message(), "message length ") ||
		!strings.HasSuffix(s.Message(), " exceed maximum message size of 4194304") {
		fail("oversize State: %v", err)
	}
	if st, err := t.State(bg, &task.StateRequest{ID: "after"}); err != nil || st.ID != "after" {
		fail("State after oversize: %v", err)
	}

	// A deadline travels as timeout_nano; the call ends with DeadlineExceeded.
	dctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	_, err = t.Wait(dctx, &task.WaitRequest{ID: "forever"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		if s, _ := status.FromError(err); s.Code() != codes.DeadlineExceeded {
			fail("Wait forever: %v", err)
		}
	}

	// Wait (answered later) and State calls in flight together on one connection.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w, err := t.Wait(bg, &task.WaitRequest{ID: "w"})
		if err != nil || w.ExitStatus != 137 || w.ExitedAt.Unix() != 1700000001 {
			fail("Wait: %v %+v", err, w)
		}
	}()
	// Many goroutines, many calls in flight, each answer matched to its request.
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				st, err := t.State(bg, &task.StateRequest{ID: id})
				if err != nil || st.ID != id || st.Bundle != "/bundle/"+id {
					fail("State %s: %v %+v", id, err, st)
				}
			}
		}(g)
	}
	wg.Wait()
	fmt.Println("ok")
}

type goService struct {
	task.TaskService // only the methods below are implemented
}

func (goService) Connect(ctx context.Context, r *task.ConnectRequest) (*task.ConnectResponse, error) {
	ns, ok := ttrpc.GetMetadataValue(ctx, "containerd-namespace")
	if !ok {
		ns = "none"
	}
	return &task.ConnectResponse{ShimPid: uint32(os.Getpid()), TaskPid: 4242, Version: ns}, nil
}

func (goService) State(ctx context.Context, r *task.StateRequest) (*task.StateResponse, error) {
	bundle := "/bundle/" + r.ID
	if r.ID == "big" { // an answer over the 4 MiB limit
		bundle = strings.Repeat("b", 5<<20)
	}
	return &task.StateResponse{ID: r.ID, ExecID: r.ExecID, Bundle: bundle, Pid: 7, Status: 2,
		ExitedAt: time.Unix(1700000000, 5)}, nil
}

func (goService) Kill(ctx context.Context, r *task.KillRequest) (*ptypes.Empty, error) {
	if r.ID == "missing" {
		return nil, errdefs.ToGRPCf(errdefs.ErrNotFound, "container %s", r.ID)
	}
	return &ptypes.Empty{}, nil
}

func serve(sock string) {
	srv, err := ttrpc.NewServer()
	if err != nil {
		fail("server: %v", err)
	}
	task.RegisterTaskService(srv, goService{})
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		fail("listen: %v", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		srv.Close()
		os.Remove(sock)
		os.Exit(0)
	}()
	fmt.Println("ready")
	srv.Serve(context.Background(), l)
}

func bench(sock string, conns int, secs float64) {
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		c, err := dial(sock)
		if err != nil {
			fail("dial: %v", err)
		}
		wg.Add(1)
		go func(i int, c *ttrpc.Client) {
			defer wg.Done()
			defer c.Close()
			t := task.NewTaskClient(c)
			for time.Now().Before(end) {
				t0 := time.Now()
				if _, err := t.Connect(context.Background(), &task.ConnectRequest{ID: "bench"}); err != nil {
					fail("bench call: %v", err)
				}
				lats[i] = append(lats[i], time.Since(t0))
			}
		}(i, c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	var sum time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	for _, d := range all {
		sum += d
	}
	n := len(all)
	fmt.Printf("calls=%d rps=%.0f mean_us=%.2f p50_us=%.2f p99_us=%.2f\n", n,
		float64(n)/elapsed.Seconds(), float64(sum.Nanoseconds())/float64(n)/1e3,
		float64(all[n/2].Nanoseconds())/1e3, float64(all[n*99/100].Nanoseconds())/1e3)
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "check" {
		pid, _ := strconv.Atoi(os.Args[3])
		check(os.Args[2], pid)
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "serve" {
		serve(os.Args[2])
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "bench" {
		n, _ := strconv.Atoi(os.Args[3])
		s, _ := strconv.ParseFloat(os.Args[4], 64)
		bench(os.Args[2], n, s)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: gopeer check SOCKET PID | serve SOCKET | bench SOCKET CONNS SECS")
	os.Exit(2)
}
