package blobgc_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/blobgc"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/instance"
)

// dg is a valid digest made from a short tag.
func dg(tag string) blob.Digest { return blob.FromBytes([]byte(tag)) }

func desc(tag string) blob.Desc { return blob.Desc{Digest: dg(tag), Size: int64(len(tag))} }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScan(t *testing.T) {
	a, b := dg("a"), dg("b")
	upper := "sha256:" + strings.ToUpper(a.Hex())
	cases := []struct {
		name string
		in   string
		want []blob.Digest
	}{
		{"none", `{"id":"ami-1","layers":[]}`, nil},
		{"json", `{"layers":[{"digest":"` + string(a) + `","size":3}]}`, []blob.Digest{a}},
		{"two, adjacent", string(a) + string(b), []blob.Digest{a, b}},
		{"anywhere in text", `description: copied from ` + string(b) + `!`, []blob.Digest{b}},
		{"escaped JSON inside JSON", mustJSONString(`{"digest":"` + string(a) + `"}`), []blob.Digest{a}},
		{"uppercase is not a digest", upper, nil},
		{"too short", string(a)[:70], nil},
		{"prefix at the end", `x sha256:`, nil},
		{"longer hex: the first 64 count", string(a) + "ff", []blob.Digest{a}},
		{"prefix inside a false start", "sha256:zzsha256:" + a.Hex(), []blob.Digest{a}},
	}
	for _, c := range cases {
		live := blobgc.NewLive()
		n := live.Scan([]byte(c.in))
		if n != len(c.want) || live.Len() != len(c.want) {
			t.Errorf("%s: Scan found %d (set of %d), want %d", c.name, n, live.Len(), len(c.want))
		}
		for _, d := range c.want {
			if !live.Has(d) {
				t.Errorf("%s: %s not marked", c.name, d)
			}
		}
	}
}

func mustJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestLiveAddHas(t *testing.T) {
	live := blobgc.NewLive()
	for _, bad := range []blob.Digest{"", "sha256:", "sha512:" + blob.Digest(dg("x").Hex()), "sha256:" + blob.Digest(strings.ToUpper(dg("x").Hex()))} {
		if live.Add(bad) || live.Has(bad) {
			t.Errorf("invalid digest %q accepted", bad)
		}
	}
	if !live.Add(dg("x")) || !live.Has(dg("x")) || live.Has(dg("y")) || live.Len() != 1 {
		t.Fatal("Add/Has of a valid digest")
	}
}

// TestMarkRealRecords: the record types that name blobs today are marked
// through their JSON, sealed layers (both digests) and the cross-region
// work of a copy included.
func TestMarkRealRecords(t *testing.T) {
	plain, sealed, base, src, srcSealed, inst := desc("plain"), desc("sealed"), desc("base"), desc("src"), desc("src-sealed"), desc("inst")
	bodies := [][]byte{
		mustJSON(t, image.Image{ID: "ami-1", Layers: []blob.Layer{{Desc: plain, Sealed: &sealed}}}),
		mustJSON(t, ebs.Snapshot{ID: "snap-1", Region: "us-west-2", Work: &ebs.Work{Kind: ebs.CopyLayers, FromRegion: "us-east-1",
			FromLayers: []blob.Layer{{Desc: src, Sealed: &srcSealed}}, Base: blob.Plain(base)}}),
		mustJSON(t, instance.Record{ID: "i-1", Layers: blob.Plain(inst)}),
		mustJSON(t, ebs.Volume{ID: "vol-1", Layers: blob.Plain(base)}),
	}
	live := blobgc.NewLive()
	for _, b := range bodies {
		live.Scan(b)
	}
	for _, d := range []blob.Desc{plain, sealed, base, src, srcSealed, inst} {
		if !live.Has(d.Digest) {
			t.Errorf("%s not marked", d.Digest)
		}
	}
	if live.Len() != 6 {
		t.Fatalf("marked %d digests, want 6", live.Len())
	}
}

func TestJudgeAndPlan(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	now := clk.Now()
	live := blobgc.NewLive()
	live.Add(dg("named-old"))
	live.Add(dg("sealed-ciphertext"))
	blobs := []blobgc.Blob{
		{Desc: desc("named-old"), Stored: now.Add(-48 * time.Hour)},
		{Desc: desc("sealed-ciphertext"), Stored: now.Add(-2 * time.Hour)},
		{Desc: desc("old"), Stored: now.Add(-2 * time.Hour)},
		{Desc: desc("just-old"), Stored: now.Add(-time.Hour - time.Nanosecond)},
		{Desc: desc("at-cutoff"), Stored: now.Add(-time.Hour)},
		{Desc: desc("young"), Stored: now.Add(-time.Minute)},
		{Desc: desc("future"), Stored: now.Add(time.Hour)},
	}
	names := func(bs []blobgc.Blob) []blob.Digest {
		var out []blob.Digest
		for _, b := range bs {
			out = append(out, b.Digest)
		}
		return out
	}
	cases := []struct {
		name    string
		advance time.Duration
		grace   time.Duration
		want    []blob.Digest
	}{
		{"grace 1h", 0, time.Hour, []blob.Digest{dg("old"), dg("just-old")}},
		{"an hour later", time.Hour, time.Hour, []blob.Digest{dg("old"), dg("just-old"), dg("at-cutoff"), dg("young")}},
		{"grace 3h", time.Hour, 3 * time.Hour, nil},
		{"no grace", 0, -1, []blob.Digest{dg("old"), dg("just-old"), dg("at-cutoff"), dg("young")}},
		{"zero grace is none in the core", 0, 0, []blob.Digest{dg("old"), dg("just-old"), dg("at-cutoff"), dg("young")}},
	}
	for _, c := range cases {
		clk.Set(now.Add(c.advance))
		got := names(blobgc.Plan(blobs, live, clk.Now(), c.grace))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Plan = %v, want %v", c.name, got, c.want)
		}
	}
	cutoff := blobgc.Cutoff(now, time.Hour)
	for b, want := range map[int]blobgc.Verdict{0: blobgc.Referenced, 1: blobgc.Referenced, 2: blobgc.Garbage, 4: blobgc.Young, 6: blobgc.Young} {
		if got := blobgc.Judge(blobs[b], live, cutoff); got != want {
			t.Errorf("Judge(%s) = %v, want %v", blobs[b].Digest, got, want)
		}
	}
}

func TestFence(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cutoff := blobgc.Cutoff(now, time.Hour)
	for _, c := range []struct {
		busy, want time.Time
	}{
		{time.Time{}, cutoff},                              // nothing under way
		{now.Add(-3 * time.Hour), now.Add(-3 * time.Hour)}, // a long copy: its start
		{now.Add(-time.Minute), cutoff},                    // recent work: the grace covers it
	} {
		if got := blobgc.Fence(cutoff, c.busy); !got.Equal(c.want) {
			t.Errorf("Fence(%v, %v) = %v, want %v", cutoff, c.busy, got, c.want)
		}
	}
}
