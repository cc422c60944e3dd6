package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/jid"
)

// DepsOf gives tests the router and registry a node runs with.
func DepsOf(n *Node) Deps { return n.getDeps() }

// Delivered counts the stanzas from other nodes that n handed to its
// sessions: a test waits on it for what another node sent to have
// arrived.
func Delivered(n *Node) uint64 { return n.stats.delivered.Load() }

// Rerouted counts the stanzas from other nodes whose session had left
// when they arrived (routed again on n).
func Rerouted(n *Node) uint64 { return n.stats.rerouted.Load() }

// InboxWorker is the inbox worker of n that takes the messages for full.
func InboxWorker(n *Node, full string) int {
	return int(inboxKey([]byte("d"+full)) % uint64(len(n.inq)))
}

// DelayApply makes n wait d before it applies a change another node
// awaits (PublishWait), as a busy or distant node would: without the wait
// the other node answered its client before n had applied it. Zero
// removes the delay.
func DelayApply(n *Node, d time.Duration) {
	if d == 0 {
		n.topics.beforeApply.Store(nil)
		return
	}
	fn := func(string) { time.Sleep(d) }
	n.topics.beforeApply.Store(&fn)
}

// Kept counts the copies n keeps of what it sent to other nodes, until
// their receipts come.
func Kept(n *Node) int {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	k := 0
	for _, p := range n.pend {
		k += len(p.msgs)
	}
	return k
}

// FailSessionWrites makes n's writes of session records fail with err, at
// once (no retries), as when the directory's bucket cannot be reached; nil
// ends it.
func FailSessionWrites(n *Node, err error) {
	if err == nil {
		n.dir.putFault.Store(nil)
		return
	}
	n.dir.bindWait = time.Nanosecond
	n.dir.putFault.Store(&err)
}

// BindsRefused counts the binds n refused.
func BindsRefused(n *Node) uint64 { return n.stats.bindsRefused.Load() }

// Record is a session's record in the directory.
type Record = record

// WatchRecords calls fn with every session record of another node that
// n's watcher applies, in order; nil stops it.
func WatchRecords(n *Node, fn func(Record)) {
	if fn == nil {
		n.dir.applied.Store(nil)
		return
	}
	f := func(r record) { fn(r) }
	n.dir.applied.Store(&f)
}

// StoredRecord reads full's record from the bucket's stream leader, not
// from n's mirror, nor by a direct get, which a replica that lags may
// answer.
func StoredRecord(n *Node, full string) (Record, error) {
	b := n.kv.Bucket()
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + b + "." + sessionKey(jid.MustParse(full))})
	m, err := n.nc.Request("$JS.API.STREAM.MSG.GET.KV_"+b, req, writeTimeout)
	if err != nil {
		return Record{}, err
	}
	var resp struct {
		Message *struct {
			Data []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return Record{}, err
	}
	if resp.Error != nil || resp.Message == nil {
		return Record{}, fmt.Errorf("stream message get: %+v", resp.Error)
	}
	var r Record
	err = json.Unmarshal(resp.Message.Data, &r)
	return r, err
}

// ResumptionsRefused counts the sessions n kept because it could not move
// their records to the node where their clients resumed them.
func ResumptionsRefused(n *Node) uint64 { return n.stats.movesRefused.Load() }

// OrphanAfter sets how long n lets a record naming it go without a session
// before it deletes the record.
func OrphanAfter(n *Node, d time.Duration) { n.dir.orphanWait.Store(int64(d)) }

// PutOrphan writes a record naming n for full, a session n does not have
// (what a handover whose answer was lost leaves behind).
func PutOrphan(n *Node, full string) error {
	b, _ := json.Marshal(record{Node: n.cfg.Node, ID: n.id, JID: full, Avail: true})
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_, err := n.kv.Put(ctx, sessionKey(jid.MustParse(full)), b)
	return err
}
