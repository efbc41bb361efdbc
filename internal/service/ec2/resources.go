package ec2

import "time"

// Store kinds of EC2 resources (per account and region).
const (
	kindKeyPair       = "key-pair"
	kindSecurityGroup = "security-group"
	kindVPC           = "vpc"
	kindSubnet        = "subnet"
)

// keyPair is a stored key pair. The private key is never stored.
type keyPair struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"type"` // rsa | ed25519
	Fingerprint string    `json:"fingerprint"`
	PublicKey   string    `json:"publicKey"` // OpenSSH authorized_keys form
	Created     time.Time `json:"created"`
}

// vpc is a stored VPC (today only each region's default VPC).
type vpc struct {
	ID            string    `json:"id"`
	CIDR          string    `json:"cidr"`
	DhcpOptionsID string    `json:"dhcpOptionsId"`
	AssociationID string    `json:"associationId"`
	Default       bool      `json:"default"`
	Created       time.Time `json:"created"`
}

// subnet is a stored subnet.
type subnet struct {
	ID      string `json:"id"`
	VpcID   string `json:"vpcId"`
	CIDR    string `json:"cidr"`
	AZ      string `json:"az"`
	AZID    string `json:"azId"`
	Default bool   `json:"default"`
}

// securityGroup is a stored security group with its rules.
type securityGroup struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	VpcID       string    `json:"vpcId"`
	Ingress     []sgRule  `json:"ingress"`
	Egress      []sgRule  `json:"egress"`
	Created     time.Time `json:"created"`
}

// sgRule is one security group rule: one protocol/port range and one
// source or destination (CIDR, IPv6 CIDR, prefix list or group).
type sgRule struct {
	ID           string `json:"id"` // sgr-…
	Protocol     string `json:"protocol"`
	FromPort     int32  `json:"fromPort"`
	ToPort       int32  `json:"toPort"`
	CIDRv4       string `json:"cidrIpv4,omitempty"`
	CIDRv6       string `json:"cidrIpv6,omitempty"`
	PrefixListID string `json:"prefixListId,omitempty"`
	GroupID      string `json:"groupId,omitempty"`
	GroupOwner   string `json:"groupOwner,omitempty"`
	Description  string `json:"description,omitempty"`
}
