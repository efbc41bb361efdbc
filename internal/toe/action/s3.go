package action

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// S3API is the subset of the S3 client the modules use.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// MaxPrefixObjects bounds a prefix download.
const MaxPrefixObjects = 1000

// ParseS3URI splits s3://bucket/key.
func ParseS3URI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("not an s3:// URI: %q", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("s3 URI %q has no bucket", uri)
	}
	return bucket, key, nil
}

func (m *modules) s3(ctx context.Context) (S3API, error) {
	if m.cfg.S3 == nil {
		return nil, fmt.Errorf("S3 is not configured for this runner")
	}
	return m.cfg.S3(ctx)
}

func owner(in input) *string {
	if o := in.str("expectedBucketOwner"); o != "" {
		return aws.String(o)
	}
	return nil
}

// perS3Input adapts fn, applied with the configured S3 client to each input
// map in order; errors name the action and the input's index.
func (m *modules) perS3Input(action string, fn func(ctx context.Context, c *exec.Call, cl S3API, in input) error) exec.Action {
	return exec.ActionFunc(func(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
		cl, err := m.s3(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", action, err)
		}
		for i, raw := range c.Inputs {
			if err := fn(ctx, c, cl, input(raw)); err != nil {
				return nil, fmt.Errorf("%s input %d: %w", action, i, err)
			}
		}
		return nil, nil
	})
}

func s3DownloadOne(ctx context.Context, c *exec.Call, cl S3API, in input) error {
	src, dst, overwrite, err := in.require2Flag("source", "destination", "overwrite", true)
	if err != nil {
		return err
	}
	bucket, key, err := ParseS3URI(src)
	if err != nil {
		return err
	}
	if prefix, ok := strings.CutSuffix(key, "*"); ok {
		if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
			return fmt.Errorf("destination folder %s must exist for a prefix download", dst)
		}
		out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix),
			MaxKeys: aws.Int32(MaxPrefixObjects), ExpectedBucketOwner: owner(in)})
		if err != nil {
			return fmt.Errorf("listing %s: %w", src, err)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			rel := strings.TrimPrefix(k, prefix)
			if rel == "" || strings.HasSuffix(k, "/") {
				continue
			}
			target := filepath.Join(dst, filepath.FromSlash(rel))
			if !strings.HasPrefix(target, filepath.Clean(dst)+string(filepath.Separator)) {
				return fmt.Errorf("object key %q escapes the destination folder", k)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := getObject(ctx, c, cl, bucket, k, target, overwrite, owner(in)); err != nil {
				return err
			}
		}
		return nil
	}
	if isFolderPath(dst) {
		dst = filepath.Join(dst, filepath.Base(key))
	}
	if fi, err := os.Stat(filepath.Dir(dst)); err != nil || !fi.IsDir() {
		return fmt.Errorf("destination folder %s does not exist", filepath.Dir(dst))
	}
	return getObject(ctx, c, cl, bucket, key, dst, overwrite, owner(in))
}

func getObject(ctx context.Context, c *exec.Call, cl S3API, bucket, key, dst string, overwrite bool, owner *string) error {
	if fi, err := os.Stat(dst); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("destination %s is a folder", dst)
		}
		if !overwrite {
			return fmt.Errorf("%s already exists and overwrite is false", dst)
		}
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ExpectedBucketOwner: owner})
	if err != nil {
		return fmt.Errorf("getting s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".s3-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, out.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("reading s3://%s/%s: %w", bucket, key, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	_ = os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	fmt.Fprintf(c.Console, "S3Download: s3://%s/%s -> %s\n", bucket, key, dst)
	return nil
}

func s3UploadOne(ctx context.Context, c *exec.Call, cl S3API, in input) error {
	src, dst, recurse, err := in.require2Flag("source", "destination", "recurse", false)
	if err != nil {
		return err
	}
	bucket, key, err := ParseS3URI(dst)
	if err != nil {
		return err
	}
	matches, wild, err := expand(src)
	if err != nil {
		return err
	}
	if wild && len(matches) == 0 {
		return fmt.Errorf("no file matches %s", src)
	}
	prefixDst := strings.HasSuffix(key, "/") || key == ""
	type upload struct{ path, key string }
	var ups []upload
	for _, mth := range matches {
		fi, err := os.Stat(mth)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if !recurse {
				if wild {
					continue
				}
				return fmt.Errorf("%s is a folder; set recurse: true to upload it", mth)
			}
			if !prefixDst {
				key += "/"
				prefixDst = true
			}
			err := filepath.Walk(mth, func(p string, info os.FileInfo, err error) error {
				if err != nil || !info.Mode().IsRegular() {
					return err
				}
				rel, _ := filepath.Rel(mth, p)
				base := ""
				if wild {
					base = filepath.Base(mth) + "/"
				}
				ups = append(ups, upload{p, key + base + filepath.ToSlash(rel)})
				return nil
			})
			if err != nil {
				return err
			}
			continue
		}
		k := key
		if prefixDst || len(matches) > 1 {
			if !prefixDst {
				k += "/"
			}
			k += filepath.Base(mth)
		}
		ups = append(ups, upload{mth, k})
	}
	for _, u := range ups {
		f, err := os.Open(u.path)
		if err != nil {
			return err
		}
		_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(u.key), Body: f, ExpectedBucketOwner: owner(in)})
		f.Close()
		if err != nil {
			return fmt.Errorf("uploading %s to s3://%s/%s: %w", u.path, bucket, u.key, err)
		}
		fmt.Fprintf(c.Console, "S3Upload: %s -> s3://%s/%s\n", u.path, bucket, u.key)
	}
	return nil
}
