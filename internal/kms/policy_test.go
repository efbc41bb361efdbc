package kms

import "testing"

func TestPolicyEvaluation(t *testing.T) {
	const owner, other, arn = "111122223333", "444455556666", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	cases := []struct {
		name    string
		policy  string
		account string
		via     string
		action  string
		want    decision
	}{
		{"default owner", DefaultPolicy(owner), owner, "", "kms:Decrypt", allow},
		{"default other", DefaultPolicy(owner), other, "", "kms:Decrypt", implicitDeny},
		{"account id principal", stmt(`{"Effect":"Allow","Principal":{"AWS":"` + other + `"},"Action":"kms:Decrypt","Resource":"*"}`), other, "", "kms:Decrypt", allow},
		{"list principal", stmt(`{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::999999999999:root","arn:aws:iam::` + other + `:root"]},"Action":"kms:*","Resource":"*"}`), other, "", "kms:Encrypt", allow},
		{"role principal is the account", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + other + `:role/ebs"},"Action":"kms:Decrypt","Resource":"*"}`), other, "", "kms:Decrypt", allow},
		{"star principal", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`), other, "", "kms:Decrypt", allow},
		{"aws star principal", stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*"}`), other, "", "kms:Decrypt", allow},
		{"service principal is not a caller", stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}`), owner, "", "kms:Decrypt", implicitDeny},
		{"wildcard action", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:Describe*","Resource":"*"}`), other, "", "kms:DescribeKey", allow},
		{"wildcard action miss", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:Describe*","Resource":"*"}`), other, "", "kms:Decrypt", implicitDeny},
		{"action case-insensitive", stmt(`{"Effect":"Allow","Principal":"*","Action":"KMS:decrypt","Resource":"*"}`), other, "", "kms:Decrypt", allow},
		{"resource arn", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"` + arn + `"}`), other, "", "kms:Decrypt", allow},
		{"resource other arn", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/other"}`), other, "", "kms:Decrypt", implicitDeny},
		{"explicit deny wins", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"` + other + `"},"Action":"kms:Decrypt","Resource":"*"}`), other, "", "kms:Decrypt", explicitDeny},
		{"deny for someone else", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"` + owner + `"},"Action":"kms:Decrypt","Resource":"*"}`), other, "", "kms:Decrypt", allow},
		{"caller account condition", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"` + other + `"}}}`), other, "", "kms:Decrypt", allow},
		{"caller account condition miss", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"` + owner + `"}}}`), other, "", "kms:Decrypt", implicitDeny},
		{"via service needed", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}}`), other, "", "kms:Decrypt", implicitDeny},
		{"via service given", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}}`), other, "ec2.us-east-1.amazonaws.com", "kms:Decrypt", allow},
		{"via service like", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:ViaService":"ec2.*.amazonaws.com"}}}`), other, "ec2.eu-west-1.amazonaws.com", "kms:Decrypt", allow},
		{"grant for aws resource", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`), other, "ec2.us-east-1.amazonaws.com", "kms:CreateGrant", allow},
		{"grant not for aws resource", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}`), other, "", "kms:CreateGrant", implicitDeny},
		{"unknown condition key never grants", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}}`), other, "", "kms:Decrypt", implicitDeny},
		{"unknown operator never grants", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"kms:CallerAccount":"x"}}}`), other, "", "kms:Decrypt", implicitDeny},
		{"NotAction not evaluated", stmt(`{"Effect":"Allow","Principal":"*","NotAction":"kms:Encrypt","Resource":"*"}`), other, "", "kms:Decrypt", implicitDeny},
		{"single statement object", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}`, other, "", "kms:Decrypt", allow},
		{"managed key through ec2", managedPolicy(owner, "us-east-1", managed["aws/ebs"]), owner, "ec2.us-east-1.amazonaws.com", "kms:CreateGrant", allow},
		{"managed key direct", managedPolicy(owner, "us-east-1", managed["aws/ebs"]), owner, "", "kms:Encrypt", implicitDeny},
		{"managed key describe direct", managedPolicy(owner, "us-east-1", managed["aws/ebs"]), owner, "", "kms:DescribeKey", allow},
		{"managed key other account via ec2", managedPolicy(owner, "us-east-1", managed["aws/ebs"]), other, "ec2.us-east-1.amazonaws.com", "kms:Decrypt", implicitDeny},
		{"managed key no disable", managedPolicy(owner, "us-east-1", managed["aws/ebs"]), owner, "", "kms:DisableKey", implicitDeny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.evaluate(evalContext{Account: tc.account, ViaService: tc.via, Action: tc.action, Resource: arn}); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPolicyMalformed(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":          `{`,
		"trailing":          `{"Statement":[]} x`,
		"no statement":      `{"Version":"2012-10-17"}`,
		"empty statements":  `{"Statement":[]}`,
		"bad version":       `{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
		"bad effect":        `{"Statement":[{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
		"no principal":      `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`,
		"bad principal":     `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}]}`,
		"principal string":  `{"Statement":[{"Effect":"Allow","Principal":"111122223333","Action":"kms:*","Resource":"*"}]}`,
		"no action":         `{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}`,
		"bad action":        `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"Decrypt","Resource":"*"}]}`,
		"no resource":       `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}]}`,
		"bad condition":     `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":"x"}]}`,
		"bad principal key": `{"Statement":[{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"kms:*","Resource":"*"}]}`,
	} {
		if _, err := parsePolicy(doc); Code(err) != CodeMalformedPolicy {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
