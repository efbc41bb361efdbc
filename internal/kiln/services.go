package kiln

import (
	"path/filepath"

	"github.com/kiln-dev/kiln/internal/api"
	"github.com/kiln-dev/kiln/internal/api/cbor"
	"github.com/kiln-dev/kiln/internal/api/jsonproto"
	"github.com/kiln-dev/kiln/internal/api/query"
	"github.com/kiln-dev/kiln/internal/api/restjson"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awsgen/autoscalingapi"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudformationapi"
	"github.com/kiln-dev/kiln/internal/awsgen/cloudwatchapi"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/awsgen/ecrapi"
	"github.com/kiln-dev/kiln/internal/awsgen/elbv2api"
	"github.com/kiln-dev/kiln/internal/awsgen/eventsapi"
	"github.com/kiln-dev/kiln/internal/awsgen/iamapi"
	"github.com/kiln-dev/kiln/internal/awsgen/imagebuilderapi"
	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
	"github.com/kiln-dev/kiln/internal/awsgen/logsapi"
	"github.com/kiln-dev/kiln/internal/awsgen/schedulerapi"
	"github.com/kiln-dev/kiln/internal/awsgen/snsapi"
	"github.com/kiln-dev/kiln/internal/awsgen/ssmapi"
	"github.com/kiln-dev/kiln/internal/awsgen/stsapi"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/service/cloudwatch"
	"github.com/kiln-dev/kiln/internal/service/ec2"
	kmssvc "github.com/kiln-dev/kiln/internal/service/kms"
	"github.com/kiln-dev/kiln/internal/service/s3"
	"github.com/kiln-dev/kiln/internal/service/scheduler"
	"github.com/kiln-dev/kiln/internal/service/sts"
)

// codecs lists every wire protocol kiln speaks.
func codecs() []wire.Codec {
	return []wire.Codec{query.EC2, query.Query, jsonproto.JSON, restjson.RestJSON, cbor.CBOR}
}

func newAPI(k *Kiln) *api.Server {
	s := api.New(api.Config{Keys: k.Accounts, Codecs: codecs(), Clock: k.opts.Clock, Log: k.opts.Log})
	s.Register(stsapi.Service, stsapi.Handlers(sts.Service{}))
	k.ec2 = ec2.New(k.Store, k.opts.Clock)
	if cat, regions, err := setupImages(k); err != nil {
		k.opts.Log.Error("images unavailable", "err", err)
	} else {
		k.ec2.SetImages(cat)
		k.images = cat
		k.ebs = ebs.New(ebs.Config{Store: k.Store, Blobs: cat.Blobs(), Keys: k.keyrings(), Clock: k.opts.Clock, Log: k.opts.Log.With("component", "ebs")})
		k.setupBlobGC(regions)
		k.ec2.EnableEBS(ec2.EBSDeps{Kick: k.ebs.Kick, Keys: k.ec2Keys(), Images: cat, Freed: k.gc.Kick})
	}
	s.Register(ec2api.Service, ec2api.Handlers(k.ec2))
	s.Register(cloudwatchapi.Service, cloudwatchapi.Handlers(cloudwatch.New(k.Store)))
	s.Register(schedulerapi.Service, schedulerapi.Handlers(scheduler.New(k.Store, k.opts.Clock)))
	s.Register(kmsapi.Service, kmsapi.Handlers(kmssvc.New(k.KMS)))
	s.RegisterStreamer("s3", s3.New(s3.Config{Dir: filepath.Join(k.opts.DataDir, "s3"), Store: k.Store, Keys: k.Accounts, Clock: k.opts.Clock, Log: k.opts.Log}))
	// Services whose operations all answer "not implemented" for now, in
	// their own protocols.
	s.Register(imagebuilderapi.Service, nil)
	s.Register(ssmapi.Service, nil)
	s.Register(logsapi.Service, nil)
	s.Register(autoscalingapi.Service, nil)
	s.Register(cloudformationapi.Service, nil)
	s.Register(elbv2api.Service, nil)
	s.Register(ecrapi.Service, nil)
	s.Register(iamapi.Service, nil)
	s.Register(eventsapi.Service, nil)
	s.Register(snsapi.Service, nil)
	return s
}
