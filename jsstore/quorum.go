package jsstore

import (
	"sync"
	"time"
)

// quorumWatch turns the node's quorum check into a signal that commits in flight can wait on: lost()
// returns a channel that is closed when the node loses its majority, and a fresh one once it has it
// again. One goroutine polls for the whole store, so a commit costs no polling of its own.
type quorumWatch struct {
	check func() error
	mu    sync.Mutex
	ch    chan struct{}
	down  bool
	quit  chan struct{}
	done  chan struct{}
}

const quorumPollEvery = 200 * time.Millisecond

func startQuorumWatch(check func() error) *quorumWatch {
	w := &quorumWatch{check: check, ch: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}
	if check == nil {
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(quorumPollEvery)
		defer t.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-t.C:
			}
			ok := w.check() == nil
			w.mu.Lock()
			switch {
			case !ok && !w.down:
				w.down = true
				close(w.ch)
			case ok && w.down:
				w.down = false
				w.ch = make(chan struct{})
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// lost returns a channel closed while, or as soon as, the node has no majority.
func (w *quorumWatch) lost() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *quorumWatch) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}
