package queue

import "encoding/json"

// A page following an instance's serial log asks the instance's agent
// for new output instead of asking the controller again and again: the
// controller adds a LogWatch to the host's watch set (a sorted set scored
// by when the watch lapses, renewed while the page is open), and the
// agent, once a second, sends what each watched log gained since the
// watch's offset to the watch's channel.

// LogWatch is one page following one serial log.
type LogWatch struct {
	InstanceID string `json:"instance_id"`
	Viewer     string `json:"viewer"` // random per page: its channel
	Offset     int64  `json:"offset"` // the log's length the page already shows
}

// Member is w as a member of the watch set.
func (w LogWatch) Member() string {
	b, _ := json.Marshal(w)
	return string(b)
}

// ParseLogWatch reads a member of the watch set.
func ParseLogWatch(member string) (LogWatch, bool) {
	var w LogWatch
	err := json.Unmarshal([]byte(member), &w)
	return w, err == nil && w.InstanceID != "" && w.Viewer != ""
}

// LogWatchKey is the watch set of host.
func LogWatchKey(prefix, host string) string { return prefix + "logwatch:" + host }

// LogChannel is where a watch's new output is published.
func LogChannel(prefix, viewer string) string { return prefix + "log:" + viewer }
