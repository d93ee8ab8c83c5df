package web_test

import (
	"fmt"
	"net/http"
	"time"
)

// fakeHistory is GET /api/admin/rooms/{room}/history as the operator page
// gets it: three minutes of a small sale, so the charts, their tables and
// the summary are drawn.
func fakeHistory(w http.ResponseWriter, _ *http.Request) {
	start := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	points := ""
	for i := range 3 {
		if i > 0 {
			points += ","
		}
		points += fmt.Sprintf(`{"t":%q,"arrived":%d,"admitted":%d,"abandoned":0,"left":%d,"ended":0,"no_show":%d,`+
			`"waiting":%d,"admitted_now":%d,"wait_p50_s":%v,"wait_p95_s":%v}`,
			start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), 10+i, 3, i%2, i/2, 7+i*4, 3, 12.3+float64(i), 40.5)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"room":"x","step_s":60,"points":[%s],"summary":{"arrived":33,"admitted":9,"abandoned":0,`+
		`"left":1,"ended":0,"no_show":1,"peak_waiting":15,"wait_p50_s":13.5,"wait_p95_s":40.5}}`, points)
}
