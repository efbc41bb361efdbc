// Package s3 implements kiln's Amazon S3 API on the shared front door as a
// wire.Streamer: the restXml protocol by hand (routing by method, addressing
// style and sub-resource query), buckets (regions, versioning, tagging,
// policies), objects (conditional and ranged reads, copies, tagging,
// checksums, ETags as S3 computes them), listings (v1, v2, versions) and
// multipart uploads.
//
// Bodies stream: the front door has verified the signature over the
// headers and hands over the unread body; this package verifies the payload
// as X-Amz-Content-Sha256 declares it while copying it to disk, and commits
// nothing until the whole body checked out.
//
// Storage is split in two. Object data lives in immutable files managed by
// the disk sub-package (temp file, fsync, rename). Metadata — buckets,
// object versions with the data files that hold them, multipart uploads and
// their parts — lives in the state store as JSON records, global (bucket
// names are global on AWS) and keyed by bucket and key, so listings come
// back in key order from the store's index and every change of metadata is
// one transaction. A data file becomes visible only when the transaction
// that references it commits; files a crash left unreferenced are swept at
// start-up.
package s3
