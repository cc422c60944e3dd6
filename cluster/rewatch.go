package cluster

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func (d *Directory) setWatcher(w jetstream.KeyWatcher) {
	d.mu.Lock()
	d.watcher = w
	d.mu.Unlock()
}

// watchLoop applies the bucket's changes to the mirror. Its watcher can
// end while the node runs: seen when a node left and JetStream moved the
// stream's leadership, after which the survivors' mirrors froze for good
// (they heard no heartbeat and no session change again). It then watches
// anew: the new watcher replays every key's current value, and what the
// mirror holds beyond those was deleted meanwhile.
func (n *Node) watchLoop(w jetstream.KeyWatcher, ready chan struct{}) {
	defer n.done.Done()
	first := true
	for {
		var replayed map[string]bool
		if !first {
			replayed = map[string]bool{}
		}
		initial := true
		for e := range w.Updates() {
			if e == nil {
				if initial {
					initial = false
					if first {
						close(ready)
					} else {
						n.dir.reconcile(replayed)
					}
				}
				continue
			}
			if initial && replayed != nil {
				replayed[e.Key()] = true
			}
			n.apply(e)
		}
		if first && initial {
			close(ready) // watch reports the failure
			return
		}
		first = false
		select {
		case <-n.stop:
			return
		default:
		}
		n.log.Warn("cluster: the directory watcher stopped; watching again")
		for {
			nw, err := n.kv.WatchAll(context.Background())
			if err == nil {
				select {
				case <-n.stop:
					_ = nw.Stop()
					return
				default:
				}
				n.dir.setWatcher(nw)
				w = nw
				break
			}
			select {
			case <-n.stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// reconcile drops from the mirror the sessions whose keys a fresh watch
// did not replay: deleted while the watcher was down.
func (d *Directory) reconcile(replayed map[string]bool) {
	d.mu.RLock()
	var stale []string
	for k := range d.byKey {
		if strings.HasPrefix(k, "s.") && !replayed[k] {
			stale = append(stale, k)
		}
	}
	d.mu.RUnlock()
	for _, k := range stale {
		d.removeRemote(k)
	}
}
