package sigv4

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// botocoreScript signs requests with botocore's own signers and sends them
// with urllib to the server at argv[1]. It prints {case: server answer}.
const botocoreScript = `
import gzip, json, sys, urllib.error, urllib.request
from botocore.auth import SigV4Auth, S3SigV4Auth, SigV4QueryAuth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

base, secret = sys.argv[1], sys.argv[2]
good = Credentials('AKIDBOTOCORE', secret)
bad = Credentials('AKIDBOTOCORE', secret + 'x')
tok = Credentials('AKIDBOTOCORE', secret, 'session/token+==')
R = 'us-east-1'
IB = '/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A123456789012%3Aimage%2Fx%2F1.0.0%2F1'
out = {}

def run(name, auth, method, path, data=b'', headers=None, params=None):
    req = AWSRequest(method=method, url=base + path, data=data, headers=headers or {}, params=params or {})
    auth.add_auth(req)
    p = req.prepare()
    body = p.body
    if isinstance(body, str):
        body = body.encode()
    r = urllib.request.Request(p.url, data=body if body else None, method=method)
    for k, v in p.headers.items():
        r.add_header(k, v.decode() if isinstance(v, bytes) else v)
    try:
        with urllib.request.urlopen(r) as resp:
            out[name] = resp.read().decode()
    except urllib.error.HTTPError as e:
        out[name] = e.read().decode()

form = {'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8'}
run('ec2 form POST', SigV4Auth(good, 'ec2', R), 'POST', '/', 'Action=DescribeRegions&Version=2016-11-15', form)
run('ec2 GET params', SigV4Auth(good, 'ec2', R), 'GET', '/', params={'Action': 'DescribeImages', 'Filter.1.Value.1': 'hello world \u2713 a+b/c', 'Owner.1': 'self'})
run('imagebuilder encoded arn', SigV4Auth(good, 'imagebuilder', R), 'GET', IB)
run('kms json', SigV4Auth(good, 'kms', R), 'POST', '/', b'{"KeyId":"alias/x"}',
    {'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.DescribeKey'})
run('monitoring gzip', SigV4Auth(good, 'monitoring', R), 'POST', '/', gzip.compress(b'{"Namespace":"x","MetricData":[]}' * 500),
    {'Content-Encoding': 'gzip', 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'GraniteServiceVersion20100801.PutMetricData'})
run('sts session token', SigV4Auth(tok, 'sts', R), 'POST', '/', 'Action=GetCallerIdentity&Version=2011-06-15', form)
run('s3 PUT object', S3SigV4Auth(good, 's3', R), 'PUT', '/bucket/dir/key%20x/%E2%9C%93.txt', b'object data')
run('s3 GET list', S3SigV4Auth(good, 's3', R), 'GET', '/bucket?list-type=2&prefix=a%2Fb%20c')
run('sts presigned', SigV4QueryAuth(good, 'sts', R, expires=3600), 'GET', '/?Action=GetCallerIdentity&Version=2011-06-15')
run('ec2 presigned form moved to query', SigV4QueryAuth(good, 'ec2', R, expires=300), 'POST', '/',
    {'Action': 'DescribeRegions', 'Version': '2016-11-15'})
run('s3 presigned GET', S3SigV4QueryAuth(good, 's3', R, expires=900), 'GET', '/bucket/my%20key%E2%9C%93')
run('wrong secret', SigV4Auth(bad, 'ec2', R), 'POST', '/', 'Action=DescribeRegions&Version=2016-11-15', form)
run('s3 presigned wrong secret', S3SigV4QueryAuth(bad, 's3', R, expires=900), 'GET', '/bucket/k')
print(json.dumps(out))
`

func TestBotocore(t *testing.T) {
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		t.Skipf("skipping: python3 with botocore is not available (python3 -c 'import botocore': %v)", err)
	}
	srv := newVerifyServer(t, testSecret, time.Now)
	script := filepath.Join(t.TempDir(), "sign.py")
	if err := os.WriteFile(script, []byte(botocoreScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", script, srv.URL, testSecret)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore script: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("botocore output %q: %v", raw, err)
	}
	want := map[string]string{
		"ec2 form POST":                     "ok",
		"ec2 GET params":                    "ok",
		"imagebuilder encoded arn":          "ok",
		"kms json":                          "ok",
		"monitoring gzip":                   "ok",
		"sts session token":                 "ok",
		"s3 PUT object":                     "ok",
		"s3 GET list":                       "ok",
		"sts presigned":                     "ok",
		"ec2 presigned form moved to query": "ok",
		"s3 presigned GET":                  "ok",
		"wrong secret":                      "mismatch",
		"s3 presigned wrong secret":         "mismatch",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: server said %q, want %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d results, want %d: %v", len(got), len(want), got)
	}
}
