package ec2

import (
	"testing"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// TestModifyInstanceTypeResizes: the type changed while stopped reaches
// the instance's container (its CPU and memory limits) at the next start,
// on the same container (root disk kept).
func TestModifyInstanceTypeResizes(t *testing.T) {
	h := newInstHarness(t)
	res := h.run(h.ctx, &ec2api.RunInstancesRequest{InstanceType: "t3.micro"})
	a := res.Instances[0].InstanceId
	micro, large := instanceTypes["t3.micro"], instanceTypes["t3.large"]
	if spec, ok := h.rt.Spec(a); !ok || spec.VCPUs != int(micro.VCPUs) || spec.MemoryMiB != micro.MemoryMiB {
		t.Fatalf("launch spec %+v, want t3.micro limits", spec)
	}

	_, err := h.s.StopInstances(h.ctx, &ec2api.StopInstancesRequest{InstanceIds: []string{a}})
	sgNoErr(t, err)
	h.idle()
	sgNoErr(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: a, InstanceType: &ec2api.AttributeValue{Value: "t3.large"}}))
	h.idle()
	if spec, _ := h.rt.Spec(a); spec.MemoryMiB != micro.MemoryMiB {
		t.Fatalf("limits changed before the start: %d MiB", spec.MemoryMiB)
	}
	h.rt.Calls = nil
	_, err = h.s.StartInstances(h.ctx, &ec2api.StartInstancesRequest{InstanceIds: []string{a}})
	sgNoErr(t, err)
	h.idle()
	if in := h.one(a); in.State.Name != "running" || in.InstanceType != "t3.large" {
		t.Fatalf("started %s %s", in.State.Name, in.InstanceType)
	}
	spec, ok := h.rt.Spec(a)
	if !ok || spec.VCPUs != int(large.VCPUs) || spec.MemoryMiB != large.MemoryMiB || !h.rt.Running(a) {
		t.Fatalf("after start: %d vCPUs, %d MiB, running %v; want t3.large %d, %d", spec.VCPUs, spec.MemoryMiB, h.rt.Running(a), large.VCPUs, large.MemoryMiB)
	}
	for _, c := range h.rt.Calls {
		if c == "create "+a {
			t.Fatalf("the container was re-created (root disk lost): %v", h.rt.Calls)
		}
	}
}
