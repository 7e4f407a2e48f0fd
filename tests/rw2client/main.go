// rw2client sends series to a remote-write receiver as Remote-Write 2.0
// (io.prometheus.write.v2.Request), with the Prometheus project's own client
// (github.com/prometheus/client_golang/exp/api/remote), and prints what the
// receiver answered as JSON: the status, the X-Prometheus-Remote-Write-*-Written
// headers and the client's own reading of them.
//
// Input on stdin: {"series": [{"labels": {"__name__": "x", ...}, "samples": [[ms, value], ...],
// "histograms": [[ms, count], ...], "exemplars": [[ms, value], ...]}, ...]}: histograms are native
// (exponential, schema 0, every observation in the zero bucket), exemplars carry a trace_id.
// Usage: rw2client -url http://127.0.0.1:8083 -token TOKEN < batch.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"
	writev2 "github.com/prometheus/client_golang/exp/api/remote/genproto/v2"
)

type series struct {
	Labels     map[string]string `json:"labels"`
	Samples    [][2]float64      `json:"samples"`
	Histograms [][2]float64      `json:"histograms"`
	Exemplars  [][2]float64      `json:"exemplars"`
}

type batch struct {
	Series []series `json:"series"`
}

type answer struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Stats   map[string]int    `json:"stats"`
	Error   string            `json:"error,omitempty"`
}

// withToken adds the bearer token and keeps the last response for the report.
type withToken struct {
	token string
	last  *http.Response
}

func (t *withToken) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		t.last = resp
	}
	return resp, err
}

func request(in batch) *writev2.Request {
	symbols := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for _, s := range in.Series {
		names := make([]string, 0, len(s.Labels))
		for name := range s.Labels {
			names = append(names, name)
		}
		sort.Strings(names)
		pairs := make([]string, 0, 2*len(names))
		for _, name := range names {
			pairs = append(pairs, name, s.Labels[name])
		}
		ts := &writev2.TimeSeries{LabelsRefs: symbols.SymbolizeLabels(pairs, nil)}
		for _, sample := range s.Samples {
			ts.Samples = append(ts.Samples, &writev2.Sample{Timestamp: int64(sample[0]), Value: sample[1]})
		}
		for _, h := range s.Histograms {
			ts.Histograms = append(ts.Histograms, &writev2.Histogram{
				Timestamp: int64(h[0]), Count: &writev2.Histogram_CountInt{CountInt: uint64(h[1])},
				ZeroCount: &writev2.Histogram_ZeroCountInt{ZeroCountInt: uint64(h[1])}, ZeroThreshold: 1e-128})
		}
		for i, e := range s.Exemplars {
			ts.Exemplars = append(ts.Exemplars, &writev2.Exemplar{Timestamp: int64(e[0]), Value: e[1],
				LabelsRefs: symbols.SymbolizeLabels([]string{"trace_id", fmt.Sprintf("trace-%d", i)}, nil)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = symbols.Symbols()
	return req
}

func main() {
	url := flag.String("url", "", "the receiver's base URL (the client appends api/v1/write)")
	token := flag.String("token", "", "bearer token")
	flag.Parse()
	var in batch
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "reading the batch:", err)
		os.Exit(2)
	}
	transport := &withToken{token: *token}
	api, err := remote.NewAPI(*url,
		remote.WithAPIHTTPClient(&http.Client{Transport: transport, Timeout: 10 * time.Second}),
		remote.WithAPIBackoff(remote.BackoffConfig{Min: 100 * time.Millisecond, Max: time.Second, MaxRetries: 2}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	stats, err := api.Write(context.Background(), remote.WriteV2MessageType, request(in))
	out := answer{Headers: map[string]string{}, Stats: map[string]int{
		"samples": stats.Samples, "histograms": stats.Histograms, "exemplars": stats.Exemplars}}
	if transport.last != nil {
		out.Status = transport.last.StatusCode
		for _, kind := range []string{"Samples", "Histograms", "Exemplars"} {
			name := "X-Prometheus-Remote-Write-" + kind + "-Written"
			out.Headers[name] = transport.last.Header.Get(name)
		}
	}
	if err != nil {
		out.Error = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(2)
	}
}
