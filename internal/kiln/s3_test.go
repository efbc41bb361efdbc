package kiln_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-dev/kiln/internal/clock"
)

// s3Client is an aws-sdk-go-v2 S3 client for the test account (path
// style) with the checksum defaults config.LoadDefaultConfig gives:
// CRC32 on every upload, response checksums validated.
func (e *env) s3Client(region string) *s3.Client {
	return e.s3ClientAs(region, testKey, testSecret)
}

func (e *env) s3ClientAs(region, key, secret string) *s3.Client {
	return s3.NewFromConfig(e.cfgAs(region, key, secret), sdkDefaults)
}

func sdkDefaults(o *s3.Options) {
	o.UsePathStyle = true
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
}

// s3Code is the error code of an S3 error (HEAD errors have no body: the
// SDK reports the status text, e.g. "NotFound").
func s3Code(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.ErrorCode()
}

func mustS3(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestS3BucketsSDK(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.s3Client("us-east-1")
	mustS3(t, errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})))
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); s3Code(t, err) != "BucketAlreadyOwnedByYou" {
		t.Fatalf("recreate: %v", err)
	}
	other := e.s3ClientAs("us-east-1", otherKey, otherSecret)
	if _, err := other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); s3Code(t, err) != "BucketAlreadyExists" {
		t.Fatalf("other account: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")}); s3Code(t, err) != "InvalidBucketName" {
		t.Fatalf("bad name: %v", err)
	}
	// Regions: outside us-east-1 the constraint must match the signing region.
	eu := e.s3Client("eu-west-1")
	if _, err := eu.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("beta")}); s3Code(t, err) != "IllegalLocationConstraintException" {
		t.Fatalf("no constraint in eu-west-1: %v", err)
	}
	mustS3(t, errOnly(eu.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("beta"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})))
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("beta")})
	mustS3(t, err)
	if loc.LocationConstraint != types.BucketLocationConstraintEuWest1 {
		t.Fatalf("location: %q", loc.LocationConstraint)
	}
	loc, err = c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	mustS3(t, err)
	if loc.LocationConstraint != "" {
		t.Fatalf("us-east-1 location: %q", loc.LocationConstraint)
	}
	// A request for an eu-west-1 bucket signed for us-east-1 is redirected.
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("beta")}); s3Code(t, err) != "AuthorizationHeaderMalformed" {
		t.Fatalf("wrong region: %v", err)
	}
	hb, err := eu.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("beta")})
	mustS3(t, err)
	if aws.ToString(hb.BucketRegion) != "eu-west-1" {
		t.Fatalf("head bucket region: %v", aws.ToString(hb.BucketRegion))
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	mustS3(t, err)
	if len(lb.Buckets) != 2 || aws.ToString(lb.Buckets[0].Name) != "alpha" || aws.ToString(lb.Buckets[1].Name) != "beta" {
		t.Fatalf("list buckets: %+v", lb.Buckets)
	}
	if lo, err := other.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil || len(lo.Buckets) != 0 {
		t.Fatalf("other account sees buckets: %v %v", lo, err)
	}
	// Tagging.
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("alpha")})
	if s3Code(t, err) != "NoSuchTagSet" {
		t.Fatalf("no tags: %v", err)
	}
	mustS3(t, errOnly(c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("alpha"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("images")}}}})))
	bt, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("alpha")})
	mustS3(t, err)
	if len(bt.TagSet) != 1 || aws.ToString(bt.TagSet[0].Value) != "images" {
		t.Fatalf("tags: %+v", bt.TagSet)
	}
	mustS3(t, errOnly(c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: aws.String("alpha")})))
	// Delete: must be empty.
	mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k"), Body: strings.NewReader("x")})))
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")}); s3Code(t, err) != "BucketNotEmpty" {
		t.Fatalf("delete non-empty: %v", err)
	}
	mustS3(t, errOnly(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")})))
	mustS3(t, errOnly(c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})))
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")}); s3Code(t, err) != "NotFound" {
		t.Fatalf("head deleted: %v", err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("alpha")}); s3Code(t, err) != "NoSuchBucket" {
		t.Fatalf("list deleted: %v", err)
	}
}

func errOnly[T any](_ T, err error) error { return err }

func TestS3ObjectsSDK(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.s3Client("us-east-1")
	b := aws.String("objects")
	mustS3(t, errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})))

	// Put with metadata, content type, tags; the SDK adds a CRC32 checksum.
	body := []byte("hello, kiln s3\n")
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), Body: bytes.NewReader(body),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"Owner": "me"}, Tagging: aws.String("a=1&b=2")})
	mustS3(t, err)
	if aws.ToString(put.ETag) != `"a0b5cf7f83e6f1d5b2d4e8b3df3ff23e"` && len(aws.ToString(put.ETag)) != 34 {
		t.Fatalf("etag %s", aws.ToString(put.ETag))
	}
	if put.ChecksumCRC32 == nil {
		t.Fatalf("no CRC32 in PutObject response")
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), ChecksumMode: types.ChecksumModeEnabled})
	mustS3(t, err)
	got, err := io.ReadAll(get.Body)
	mustS3(t, err)
	get.Body.Close()
	if !bytes.Equal(got, body) || aws.ToString(get.ContentType) != "text/plain" || get.Metadata["owner"] != "me" ||
		aws.ToString(get.ETag) != aws.ToString(put.ETag) || aws.ToInt32(get.TagCount) != 2 || aws.ToString(get.ChecksumCRC32) != aws.ToString(put.ChecksumCRC32) {
		t.Fatalf("get: %q %+v", got, get)
	}
	// Explicit checksum algorithms, including CRC64NVME and SHA256.
	for _, algo := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmSha1} {
		p, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("ck/" + string(algo)), Body: bytes.NewReader(body), ChecksumAlgorithm: algo})
		mustS3(t, err)
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("ck/" + string(algo)), ChecksumMode: types.ChecksumModeEnabled})
		mustS3(t, err)
		_, err = io.ReadAll(g.Body) // the SDK validates the checksum at EOF
		g.Body.Close()
		mustS3(t, err)
		if p.ChecksumCRC32C == nil && p.ChecksumCRC64NVME == nil && p.ChecksumSHA256 == nil && p.ChecksumSHA1 == nil {
			t.Fatalf("%s: no checksum returned", algo)
		}
	}
	// A wrong checksum is refused and nothing is stored.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("bad"), Body: bytes.NewReader(body), ChecksumCRC32: aws.String("AAAAAA==")})
	if s3Code(t, err) != "BadDigest" {
		t.Fatalf("bad checksum: %v", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("bad")}); s3Code(t, err) != "NotFound" {
		t.Fatalf("bad object stored: %v", err)
	}
	// Head, ranges, conditionals.
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("dir/hello.txt")})
	mustS3(t, err)
	if aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Fatalf("head length %d", aws.ToInt64(head.ContentLength))
	}
	rg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), Range: aws.String("bytes=7-10")})
	mustS3(t, err)
	part, _ := io.ReadAll(rg.Body)
	rg.Body.Close()
	if string(part) != "kiln" || aws.ToString(rg.ContentRange) != fmt.Sprintf("bytes 7-10/%d", len(body)) {
		t.Fatalf("range: %q %s", part, aws.ToString(rg.ContentRange))
	}
	rg, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), Range: aws.String("bytes=-3")})
	mustS3(t, err)
	part, _ = io.ReadAll(rg.Body)
	rg.Body.Close()
	if string(part) != "s3\n" {
		t.Fatalf("suffix range: %q", part)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), Range: aws.String("bytes=100-")}); s3Code(t, err) != "InvalidRange" {
		t.Fatalf("bad range: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), IfNoneMatch: put.ETag}); !isStatus(err, 304) {
		t.Fatalf("if-none-match: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), IfMatch: aws.String(`"nope"`)}); s3Code(t, err) != "PreconditionFailed" {
		t.Fatalf("if-match: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), IfModifiedSince: aws.Time(time.Now().Add(time.Hour))}); !isStatus(err, 304) {
		t.Fatalf("if-modified-since: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("dir/hello.txt"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")}); s3Code(t, err) != "PreconditionFailed" {
		t.Fatalf("put if-none-match: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("missing")}); s3Code(t, err) != "NoSuchKey" {
		t.Fatalf("missing: %v", err)
	}
	// Copy (metadata copied), tagging.
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy.txt"), CopySource: aws.String("objects/dir/hello.txt")})
	mustS3(t, err)
	if aws.ToString(cp.CopyObjectResult.ETag) != aws.ToString(put.ETag) {
		t.Fatalf("copy etag %s", aws.ToString(cp.CopyObjectResult.ETag))
	}
	h2, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("copy.txt")})
	mustS3(t, err)
	if h2.Metadata["owner"] != "me" || aws.ToString(h2.ContentType) != "text/plain" {
		t.Fatalf("copied metadata: %+v", h2.Metadata)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy.txt"), CopySource: aws.String("objects/copy.txt")}); s3Code(t, err) != "InvalidRequest" {
		t.Fatalf("self copy: %v", err)
	}
	mustS3(t, errOnly(c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("copy.txt"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}}})))
	gt, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("copy.txt")})
	mustS3(t, err)
	if len(gt.TagSet) != 1 || aws.ToString(gt.TagSet[0].Key) != "x" {
		t.Fatalf("object tags: %+v", gt.TagSet)
	}
	// Listings: v1 and v2 with prefix, delimiter and pagination.
	for i := range 7 {
		mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(fmt.Sprintf("logs/2026/%02d.log", i)), Body: strings.NewReader("l")})))
	}
	mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("logs/top.log"), Body: strings.NewReader("t")})))
	var keys []string
	pg := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: b, Prefix: aws.String("logs/2026/"), MaxKeys: aws.Int32(3)})
	pages := 0
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		mustS3(t, err)
		pages++
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if len(keys) != 7 || pages != 3 || keys[0] != "logs/2026/00.log" {
		t.Fatalf("v2 pages %d keys %v", pages, keys)
	}
	l2, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, Delimiter: aws.String("/")})
	mustS3(t, err)
	var cps []string
	for _, p := range l2.CommonPrefixes {
		cps = append(cps, aws.ToString(p.Prefix))
	}
	if strings.Join(cps, ",") != "ck/,dir/,logs/" || len(l2.Contents) != 1 || aws.ToString(l2.Contents[0].Key) != "copy.txt" {
		t.Fatalf("delimiter listing: %v %+v", cps, l2.Contents)
	}
	// v1 with delimiter pages through common prefixes with NextMarker.
	var v1 []string
	marker := ""
	for {
		out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2), Marker: aws.String(marker)})
		mustS3(t, err)
		for _, p := range out.CommonPrefixes {
			v1 = append(v1, aws.ToString(p.Prefix))
		}
		for _, o := range out.Contents {
			v1 = append(v1, aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		marker = aws.ToString(out.NextMarker)
	}
	if strings.Join(v1, ",") != "ck/,dir/,copy.txt,logs/" && strings.Join(v1, ",") != "ck/,copy.txt,dir/,logs/" {
		t.Fatalf("v1 listing: %v", v1)
	}
	// DeleteObjects.
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("logs/2026/00.log")}, {Key: aws.String("logs/2026/01.log")}, {Key: aws.String("never-existed")}}}})
	mustS3(t, err)
	if len(del.Deleted) != 3 || len(del.Errors) != 0 {
		t.Fatalf("delete objects: %+v %+v", del.Deleted, del.Errors)
	}
	l2, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, Prefix: aws.String("logs/2026/")})
	mustS3(t, err)
	if aws.ToInt32(l2.KeyCount) != 5 {
		t.Fatalf("after delete: %d", aws.ToInt32(l2.KeyCount))
	}
}

func isStatus(err error, status int) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == status
}

func TestS3VersioningSDK(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.s3Client("us-east-1")
	b := aws.String("versioned")
	mustS3(t, errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})))
	gv, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	mustS3(t, err)
	if gv.Status != "" {
		t.Fatalf("initial versioning %q", gv.Status)
	}
	mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v0")})))
	mustS3(t, errOnly(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})))
	p1, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v1")})
	mustS3(t, err)
	p2, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v2")})
	mustS3(t, err)
	if aws.ToString(p1.VersionId) == "" || aws.ToString(p1.VersionId) == aws.ToString(p2.VersionId) {
		t.Fatalf("version ids %v %v", p1.VersionId, p2.VersionId)
	}
	read := func(vid string) string {
		in := &s3.GetObjectInput{Bucket: b, Key: aws.String("k")}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		g, err := c.GetObject(ctx, in)
		mustS3(t, err)
		defer g.Body.Close()
		d, _ := io.ReadAll(g.Body)
		return string(d)
	}
	if read("") != "v2" || read(aws.ToString(p1.VersionId)) != "v1" || read("null") != "v0" {
		t.Fatal("version reads")
	}
	d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	mustS3(t, err)
	if !aws.ToBool(d.DeleteMarker) {
		t.Fatal("no delete marker")
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")}); s3Code(t, err) != "NoSuchKey" {
		t.Fatalf("after delete marker: %v", err)
	}
	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	mustS3(t, err)
	if len(lv.Versions) != 3 || len(lv.DeleteMarkers) != 1 || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
		t.Fatalf("versions %d markers %d", len(lv.Versions), len(lv.DeleteMarkers))
	}
	if l, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b}); aws.ToInt32(l.KeyCount) != 0 {
		t.Fatalf("deleted key listed")
	}
	// Removing the marker brings v2 back.
	mustS3(t, errOnly(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: d.VersionId})))
	if read("") != "v2" {
		t.Fatal("marker removal")
	}
	mustS3(t, errOnly(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})))
	gv, err = c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	mustS3(t, err)
	if gv.Status != types.BucketVersioningStatusSuspended {
		t.Fatalf("suspended: %q", gv.Status)
	}
	mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v3")})))
	lv, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	mustS3(t, err)
	if len(lv.Versions) != 3 || aws.ToString(lv.Versions[0].VersionId) != "null" {
		t.Fatalf("suspended put replaces the null version: %d", len(lv.Versions))
	}
}

func TestS3MultipartSDK(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.s3Client("us-east-1")
	b := aws.String("big")
	mustS3(t, errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})))
	data := randomBytes(25 << 20)
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
	res, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("disk.img"), Body: bytes.NewReader(data)})
	mustS3(t, err)
	if !strings.HasSuffix(aws.ToString(res.ETag), `-5"`) {
		t.Fatalf("multipart etag %s", aws.ToString(res.ETag))
	}
	if res.ChecksumCRC32 == nil || !strings.HasSuffix(*res.ChecksumCRC32, "-5") || res.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("composite checksum: %v %v", aws.ToString(res.ChecksumCRC32), res.ChecksumType)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("disk.img"), ChecksumMode: types.ChecksumModeEnabled})
	mustS3(t, err)
	got, err := io.ReadAll(g.Body)
	g.Body.Close()
	mustS3(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("multipart round trip differs")
	}
	// manager.Downloader uses ranged GETs.
	buf := manager.NewWriteAtBuffer(nil)
	n, err := manager.NewDownloader(c, func(d *manager.Downloader) { d.PartSize = 4 << 20 }).Download(ctx, buf,
		&s3.GetObjectInput{Bucket: b, Key: aws.String("disk.img")})
	mustS3(t, err)
	if n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("download differs")
	}
	// partNumber GET.
	hp, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("disk.img"), PartNumber: aws.Int32(2)})
	mustS3(t, err)
	if aws.ToInt32(hp.PartsCount) != 5 || aws.ToInt64(hp.ContentLength) != 5<<20 {
		t.Fatalf("part 2: %d parts, %d bytes", aws.ToInt32(hp.PartsCount), aws.ToInt64(hp.ContentLength))
	}

	// Low-level: create, upload, copy a part, list, complete; full-object CRC64NVME.
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("parts"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
	mustS3(t, err)
	p1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("parts"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(data[:5<<20]), ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
	mustS3(t, err)
	p2, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("parts"), UploadId: cr.UploadId, PartNumber: aws.Int32(2),
		CopySource: aws.String("big/disk.img"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", 5<<20, 6<<20-1))})
	mustS3(t, err)
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
	mustS3(t, err)
	if len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != aws.ToString(cr.UploadId) {
		t.Fatalf("list uploads: %+v", ups.Uploads)
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("parts"), UploadId: cr.UploadId})
	mustS3(t, err)
	if len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[1].Size) != 1<<20 {
		t.Fatalf("list parts: %+v", lp.Parts)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("parts"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag}, {PartNumber: aws.Int32(1), ETag: p1.ETag}}}}); s3Code(t, err) != "InvalidPartOrder" {
		t.Fatalf("part order: %v", err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("parts"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: p1.ETag, ChecksumCRC64NVME: p1.ChecksumCRC64NVME},
			{PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag, ChecksumCRC64NVME: p2.CopyPartResult.ChecksumCRC64NVME}}}})
	mustS3(t, err)
	if done.ChecksumType != types.ChecksumTypeFullObject || done.ChecksumCRC64NVME == nil {
		t.Fatalf("full object checksum: %v %v", done.ChecksumType, done.ChecksumCRC64NVME)
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("parts"), ChecksumMode: types.ChecksumModeEnabled})
	mustS3(t, err)
	got, err = io.ReadAll(g.Body) // validated against the full-object CRC64NVME
	g.Body.Close()
	mustS3(t, err)
	if !bytes.Equal(got, data[:6<<20]) {
		t.Fatal("assembled object differs")
	}
	// Abort.
	cr2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("aborted")})
	mustS3(t, err)
	mustS3(t, errOnly(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("aborted"), UploadId: cr2.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})))
	mustS3(t, errOnly(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("aborted"), UploadId: cr2.UploadId})))
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("aborted"), UploadId: cr2.UploadId}); s3Code(t, err) != "NoSuchUpload" {
		t.Fatalf("aborted upload: %v", err)
	}
}

func TestS3AccessSDK(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.s3Client("us-east-1")
	other := e.s3ClientAs("us-east-1", otherKey, otherSecret)
	b := aws.String("private")
	mustS3(t, errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})))
	mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("shared/doc.yaml"), Body: strings.NewReader("doc")})))
	mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("secret"), Body: strings.NewReader("s")})))
	if _, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("shared/doc.yaml")}); s3Code(t, err) != "AccessDenied" {
		t.Fatalf("other account read: %v", err)
	}
	if _, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b}); s3Code(t, err) != "AccessDenied" {
		t.Fatalf("other account list: %v", err)
	}
	// Anonymous.
	resp, err := http.Get(e.endpoint + "/private/shared/doc.yaml")
	mustS3(t, err)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("anonymous read: %d", resp.StatusCode)
	}
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Statement":[{"Effect":"Allow"}]}`)}); s3Code(t, err) != "MalformedPolicy" {
		t.Fatalf("malformed policy: %v", err)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["s3:GetObject"],"Resource":"arn:aws:s3:::private/shared/*"},
	 {"Effect":"Allow","Principal":{"AWS":"%s"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::private"}]}`, otherAcct, otherAcct)
	mustS3(t, errOnly(c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(policy)})))
	g, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("shared/doc.yaml")})
	mustS3(t, err)
	g.Body.Close()
	if _, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("secret")}); s3Code(t, err) != "AccessDenied" {
		t.Fatalf("ungranted key: %v", err)
	}
	if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("shared/x"), Body: strings.NewReader("x")}); s3Code(t, err) != "AccessDenied" {
		t.Fatalf("ungranted write: %v", err)
	}
	mustS3(t, errOnly(other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})))
	if _, err := other.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b}); s3Code(t, err) != "AccessDenied" {
		t.Fatalf("other deletes policy: %v", err)
	}
	gp, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	mustS3(t, err)
	if aws.ToString(gp.Policy) != policy {
		t.Fatalf("policy round trip: %s", aws.ToString(gp.Policy))
	}
	// Public read grant for anonymous callers.
	mustS3(t, errOnly(c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::private/shared/*"}]}`)})))
	resp, err = http.Get(e.endpoint + "/private/shared/doc.yaml")
	mustS3(t, err)
	d, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(d) != "doc" {
		t.Fatalf("public read: %d %q", resp.StatusCode, d)
	}
	mustS3(t, errOnly(c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b})))
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b}); s3Code(t, err) != "NoSuchBucketPolicy" {
		t.Fatalf("deleted policy: %v", err)
	}
}

func TestS3PresignAndVirtualHost(t *testing.T) {
	clk := clock.NewFake(time.Now())
	e := startAt(t, clk)
	ctx := context.Background()
	c := e.s3Client("us-east-1")
	mustS3(t, errOnly(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("pre")})))
	mustS3(t, errOnly(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("a b+c.txt"), Body: strings.NewReader("presigned")})))
	ps := s3.NewPresignClient(c)
	req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("a b+c.txt")}, s3.WithPresignExpires(time.Minute))
	mustS3(t, err)
	resp, err := http.Get(req.URL)
	mustS3(t, err)
	d, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(d) != "presigned" {
		t.Fatalf("presigned get: %d %s", resp.StatusCode, d)
	}
	// Presigned PUT.
	preq, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("up")})
	mustS3(t, err)
	hr, _ := http.NewRequest(http.MethodPut, preq.URL, strings.NewReader("uploaded"))
	resp, err = http.DefaultClient.Do(hr)
	mustS3(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned put: %d", resp.StatusCode)
	}
	clk.Advance(2 * time.Minute)
	resp, err = http.Get(req.URL)
	mustS3(t, err)
	d, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(d), "AccessDenied") {
		t.Fatalf("expired presigned get: %d %s", resp.StatusCode, d)
	}
	// Virtual-hosted style: bucket.localhost:port, dialled to the server.
	u, _ := url.Parse(e.endpoint)
	_, port, _ := net.SplitHostPort(u.Host)
	addr := u.Host
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	vc := s3.NewFromConfig(e.cfg("us-east-1"), func(o *s3.Options) {
		sdkDefaults(o)
		o.UsePathStyle = false
		o.BaseEndpoint = aws.String("http://localhost:" + port)
		o.HTTPClient = hc
	})
	g, err := vc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("up")})
	mustS3(t, err)
	d, _ = io.ReadAll(g.Body)
	g.Body.Close()
	if string(d) != "uploaded" {
		t.Fatalf("virtual host get: %q", d)
	}
	l, err := vc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("pre")})
	mustS3(t, err)
	if aws.ToInt32(l.KeyCount) != 2 {
		t.Fatalf("virtual host list: %d", aws.ToInt32(l.KeyCount))
	}
}

// TestS3Boto3 drives S3 with boto3 (botocore parses XML case-sensitively,
// follows region redirects, decodes encoding-type=url listings).
func TestS3Boto3(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("precondition: python3 with boto3 is not installed (scripts/setup.sh installs python3-boto3)")
	}
	e := start(t)
	out, err := exec.Command("python3", "testdata/s3_boto3.py", e.endpoint, testKey, testSecret, t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

// TestS3AWSCLI runs the high-level `aws s3` commands of CLI v2 (Debian)
// and CLI v1 (Python) as a user would.
func TestS3AWSCLI(t *testing.T) {
	clis := map[string][]string{}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		clis["v2"] = []string{"/usr/bin/aws"}
	}
	if exec.Command("python3", "-c", "import awscli").Run() == nil {
		clis["v1"] = []string{"python3", "-m", "awscli"}
	}
	if len(clis) == 0 {
		t.Skip("precondition: neither the Debian awscli package nor Python awscli is installed")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("precondition: curl is not installed")
	}
	e := start(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	mustS3(t, os.WriteFile(big, randomBytes(25<<20), 0o600))
	tree := filepath.Join(dir, "tree")
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/deeper/c.txt"} {
		mustS3(t, os.MkdirAll(filepath.Dir(filepath.Join(tree, f)), 0o700))
		mustS3(t, os.WriteFile(filepath.Join(tree, f), []byte("file "+f), 0o600))
	}
	for name, argv := range clis {
		t.Run(name, func(t *testing.T) {
			run := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(argv[0], append(append(argv[1:], "--endpoint-url", e.endpoint), args...)...)
				cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+e.dir+"/credentials", "AWS_PROFILE=test",
					"AWS_DEFAULT_REGION=eu-central-1", "AWS_CONFIG_FILE=/dev/null", "AWS_PAGER=")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			bucket := "s3://cli-" + name
			run("s3", "mb", bucket)
			run("s3", "cp", big, bucket+"/images/big.bin")
			out := filepath.Join(t.TempDir(), "big.out")
			run("s3", "cp", bucket+"/images/big.bin", out)
			if a, b := fileSum(t, big), fileSum(t, out); a != b {
				t.Fatal("25 MB round trip differs")
			}
			head := run("s3api", "head-object", "--bucket", "cli-"+name, "--key", "images/big.bin", "--query", "ETag", "--output", "text")
			if !strings.Contains(head, "-") {
				t.Fatalf("25 MB upload was not multipart: ETag %s", head)
			}
			run("s3", "sync", tree, bucket+"/tree")
			ls := run("s3", "ls", "--recursive", bucket)
			for _, f := range []string{"images/big.bin", "tree/a.txt", "tree/sub/b.txt", "tree/sub/deeper/c.txt"} {
				if !strings.Contains(ls, f) {
					t.Fatalf("ls misses %s:\n%s", f, ls)
				}
			}
			if synced := run("s3", "sync", tree, bucket+"/tree"); strings.Contains(synced, "upload:") {
				t.Fatalf("second sync uploaded again:\n%s", synced)
			}
			back := filepath.Join(t.TempDir(), "back")
			run("s3", "sync", bucket+"/tree", back)
			if d, err := os.ReadFile(filepath.Join(back, "sub/deeper/c.txt")); err != nil || string(d) != "file sub/deeper/c.txt" {
				t.Fatalf("sync down: %q %v", d, err)
			}
			url := strings.TrimSpace(run("s3", "presign", bucket+"/tree/a.txt", "--expires-in", "60"))
			got, err := exec.Command("curl", "-sf", url).Output()
			if err != nil || string(got) != "file a.txt" {
				t.Fatalf("curl presigned: %q %v", got, err)
			}
			run("s3", "rm", "--recursive", bucket+"/tree")
			if ls := run("s3", "ls", "--recursive", bucket); strings.Contains(ls, "tree/") {
				t.Fatalf("rm left:\n%s", ls)
			}
			run("s3", "rb", "--force", bucket)
			if ls := run("s3", "ls"); strings.Contains(ls, "cli-"+name) {
				t.Fatalf("rb left the bucket:\n%s", ls)
			}
		})
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	mustS3(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	mustS3(t, err)
	return hex.EncodeToString(h.Sum(nil))
}
