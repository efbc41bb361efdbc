package containerd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Encrypted storage.
//
// With Options.StorageKey, containerd's root — the unpacked image layers,
// every instance's and volume's filesystem, the content store — lives in
// a directory encrypted with fscrypt (AES-256-XTS contents, AES-256-CTS
// names) on an ext4 filesystem of its own: the sparse file
// <DataDir>/containerd/store.img, loop-mounted at <DataDir>/containerd/store.
// Nothing an instance writes, and nothing of an encrypted image once
// launched, is plaintext on the host's disk; the key is in the kernel only
// while the filesystem is mounted. overlayfs works over it unchanged. The
// host's own filesystem needs no encryption feature (the ext4 in the file
// has it), and device-mapper is not needed (kernels without it, such as
// microVMs, have fscrypt and loop).
//
// The mount outlives kiln like containerd does, and is re-used; after a
// reboot the next start mounts it again and adds the key. A data
// directory whose containerd root predates this (plain, not empty) keeps
// using it.

const (
	storeImage = "store.img"
	storeMount = "store"
	storeDir   = "root" // the encrypted directory in the store
	// minStoreSize is the least size of the (sparse) filesystem file; by
	// default it is as large as the host filesystem holding it.
	minStoreSize = 16 << 30
)

// errPlainRoot: the data directory already has a plain containerd root.
var errPlainRoot = errors.New("containerd: existing unencrypted root")

// openStore mounts (when not mounted yet) the encrypted store under dir
// (<DataDir>/containerd), adds key to the kernel and returns the
// encrypted directory containerd's root goes in.
func openStore(dir string, key []byte, size int64) (string, error) {
	if len(key) != unix.FSCRYPT_MAX_KEY_SIZE {
		return "", fmt.Errorf("containerd: storage key of %d bytes, want %d", len(key), unix.FSCRYPT_MAX_KEY_SIZE)
	}
	img, mnt := filepath.Join(dir, storeImage), filepath.Join(dir, storeMount)
	if _, err := os.Stat(img); errors.Is(err, os.ErrNotExist) {
		if ents, _ := os.ReadDir(filepath.Join(dir, "root")); len(ents) > 0 {
			return "", errPlainRoot
		}
		if err := makeStore(img, size); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return "", err
	}
	if !isMountPoint(mnt) {
		// noinit_itable: no background zeroing of inode tables, which
		// would fill the sparse file with zeros.
		if out, err := exec.Command("mount", "-t", "ext4", "-o", "loop,noinit_itable", img, mnt).CombinedOutput(); err != nil {
			return "", fmt.Errorf("containerd: mount the encrypted store: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	id, err := addKey(mnt, key)
	if err != nil {
		return "", err
	}
	root := filepath.Join(mnt, storeDir)
	if err := os.Mkdir(root, 0o711); err == nil {
		if err := setPolicy(root, id); err != nil {
			_ = os.Remove(root)
			return "", err
		}
	} else if !errors.Is(err, os.ErrExist) {
		return "", err
	}
	got, err := policyKey(root)
	if err != nil {
		return "", err
	}
	if got != id {
		return "", fmt.Errorf("containerd: the encrypted store %s is under another key", root)
	}
	return root, nil
}

// makeStore creates the sparse filesystem file: made under a temporary
// name and renamed, so a crash never leaves a half-made store.
func makeStore(img string, size int64) error {
	if size <= 0 {
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Dir(img), &st); err != nil {
			return err
		}
		size = int64(st.Blocks) * st.Bsize
	}
	size = max(size, minStoreSize)
	tmp := img + ".new"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var out []byte
		out, err = exec.Command("mkfs.ext4", "-q", "-F", "-O", "encrypt", "-m", "0", "-L", "kiln-store",
			"-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", tmp).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("mkfs.ext4: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	if err == nil {
		err = os.Rename(tmp, img)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("containerd: make the encrypted store: %w", err)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point (of this mount
// namespace).
func isMountPoint(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// addKey adds a v2 fscrypt master key to the filesystem mounted at mnt
// (again: adding a present key is a no-op) and returns its identifier.
func addKey(mnt string, key []byte) ([unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte, error) {
	var id [unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte
	f, err := os.Open(mnt)
	if err != nil {
		return id, err
	}
	defer f.Close()
	hdr := int(unsafe.Sizeof(unix.FscryptAddKeyArg{}))
	buf := make([]byte, hdr+len(key))
	arg := (*unix.FscryptAddKeyArg)(unsafe.Pointer(&buf[0]))
	arg.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	arg.Raw_size = uint32(len(key))
	copy(buf[hdr:], key)
	defer clear(buf)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.FS_IOC_ADD_ENCRYPTION_KEY, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return id, fmt.Errorf("containerd: add the storage key: %w", e)
	}
	copy(id[:], arg.Key_spec.U[:])
	return id, nil
}

// setPolicy encrypts the empty directory dir (and everything later made
// in it) under the key with identifier id.
func setPolicy(dir string, id [unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	pol := unix.FscryptPolicyV2{Version: unix.FSCRYPT_POLICY_V2, Contents_encryption_mode: unix.FSCRYPT_MODE_AES_256_XTS,
		Filenames_encryption_mode: unix.FSCRYPT_MODE_AES_256_CTS, Flags: unix.FSCRYPT_POLICY_FLAGS_PAD_32, Master_key_identifier: id}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.FS_IOC_SET_ENCRYPTION_POLICY, uintptr(unsafe.Pointer(&pol))); e != 0 {
		return fmt.Errorf("containerd: encrypt %s: %w", dir, e)
	}
	return nil
}

// policyKey returns the identifier of the key dir is encrypted under.
func policyKey(dir string) ([unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte, error) {
	var id [unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte
	f, err := os.Open(dir)
	if err != nil {
		return id, err
	}
	defer f.Close()
	arg := unix.FscryptGetPolicyExArg{Size: uint64(unsafe.Sizeof(unix.FscryptPolicyV2{}))}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.FS_IOC_GET_ENCRYPTION_POLICY_EX, uintptr(unsafe.Pointer(&arg))); e != 0 {
		return id, fmt.Errorf("containerd: the policy of %s: %w", dir, e)
	}
	pol := (*unix.FscryptPolicyV2)(unsafe.Pointer(&arg.Policy[0]))
	if pol.Version != unix.FSCRYPT_POLICY_V2 {
		return id, fmt.Errorf("containerd: %s is not encrypted with a v2 policy", dir)
	}
	return pol.Master_key_identifier, nil
}
