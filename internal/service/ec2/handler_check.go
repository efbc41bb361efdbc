package ec2

import "github.com/kiln-dev/kiln/internal/awsgen/ec2api"

// Service implements every EC2 operation listed in implemented.txt.
var _ ec2api.Handler = (*Service)(nil)
