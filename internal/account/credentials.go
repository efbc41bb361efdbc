package account

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// AppendProfile adds a profile to an AWS shared-credentials file (created
// with mode 0600 when absent). A profile of the same name is replaced.
func AppendProfile(path, profile string, k Key) error {
	var kept []string
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		skip := false
		for sc.Scan() {
			line := sc.Text()
			t := strings.TrimSpace(line)
			if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
				skip = strings.TrimSpace(t[1:len(t)-1]) == profile
			}
			if !skip {
				kept = append(kept, line)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	for len(kept) > 0 && strings.TrimSpace(kept[len(kept)-1]) == "" {
		kept = kept[:len(kept)-1]
	}
	if len(kept) > 0 {
		kept = append(kept, "")
	}
	kept = append(kept, "["+profile+"]",
		"aws_access_key_id = "+k.AccessKeyID,
		"aws_secret_access_key = "+k.SecretAccessKey, "")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// EnvLines are the shell lines that point the AWS CLI and SDKs at kiln with
// a profile from the credentials file.
func EnvLines(credentialsPath, profile, endpoint, region string) string {
	return fmt.Sprintf("export AWS_SHARED_CREDENTIALS_FILE=%s\nexport AWS_PROFILE=%s\nexport AWS_DEFAULT_REGION=%s\nexport AWS_REGION=%s\nexport AWS_ENDPOINT_URL=%s\n",
		credentialsPath, profile, region, region, endpoint)
}
