// Package s3fake is a minimal in-memory S3 server for tests of the AWSTOE
// runner: path-style PutObject, GetObject and ListObjectsV2, enough to
// exercise S3Download, S3Upload and s3:// documents through the real AWS
// SDK with an endpoint override.
package s3fake

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
)

// Server is an in-memory S3.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	objects map[string][]byte // bucket + "/" + key
	// Owners maps a bucket to its owner account; requests with a
	// different x-amz-expected-bucket-owner are rejected.
	Owners map[string]string
}

// New starts a server; Close it when done.
func New() *Server {
	s := &Server{objects: map[string][]byte{}, Owners: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Put stores an object directly.
func (s *Server) Put(bucket, key string, data []byte) {
	s.mu.Lock()
	s.objects[bucket+"/"+key] = data
	s.mu.Unlock()
}

// Get returns an object stored directly or through the API.
func (s *Server) Get(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[bucket+"/"+key]
	return b, ok
}

// Keys lists every stored bucket/key.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ks []string
	for k := range s.objects {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

type listResult struct {
	XMLName     xml.Name  `xml:"ListBucketResult"`
	Name        string    `xml:"Name"`
	Prefix      string    `xml:"Prefix"`
	KeyCount    int       `xml:"KeyCount"`
	IsTruncated bool      `xml:"IsTruncated"`
	Contents    []content `xml:"Contents"`
}

type content struct {
	Key  string `xml:"Key"`
	Size int    `xml:"Size"`
}

func fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>`+code+`</Message></Error>`)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if want := s.Owners[bucket]; want != "" {
		if got := r.Header.Get("x-amz-expected-bucket-owner"); got != "" && got != want {
			fail(w, http.StatusForbidden, "AccessDenied")
			return
		}
	}
	switch {
	case r.Method == http.MethodPut && key != "":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			fail(w, http.StatusBadRequest, "IncompleteBody")
			return
		}
		s.Put(bucket, key, b)
		w.Header().Set("ETag", `"etag"`)
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodGet && key == "" && r.URL.Query().Get("list-type") == "2":
		prefix := r.URL.Query().Get("prefix")
		res := listResult{Name: bucket, Prefix: prefix}
		for _, k := range s.Keys() {
			b, kk, _ := strings.Cut(k, "/")
			if b == bucket && strings.HasPrefix(kk, prefix) {
				data, _ := s.Get(b, kk)
				res.Contents = append(res.Contents, content{Key: kk, Size: len(data)})
			}
		}
		res.KeyCount = len(res.Contents)
		w.Header().Set("Content-Type", "application/xml")
		xml.NewEncoder(w).Encode(res)
	case r.Method == http.MethodGet && key != "":
		b, ok := s.Get(bucket, key)
		if !ok {
			fail(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	default:
		fail(w, http.StatusNotImplemented, "NotImplemented")
	}
}
