package ec2

import (
	"context"
	"errors"
	"strconv"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// attrChange is one requested attribute change, from the structured
// members or the Attribute/Value pair.
type attrChange struct {
	name  string // EC2's attribute name
	value string
	blob  []byte
	bools *bool
	list  []string
	bdm   []ec2api.InstanceBlockDeviceMappingSpecification
}

// attrChanges collects the request's changes; EC2 modifies one attribute
// per call.
func attrChanges(in *ec2api.ModifyInstanceAttributeRequest) ([]attrChange, error) {
	var cs []attrChange
	str := func(name string, v *ec2api.AttributeValue) {
		if v != nil {
			cs = append(cs, attrChange{name: name, value: v.Value})
		}
	}
	boolean := func(name string, v *ec2api.AttributeBooleanValue) {
		if v != nil {
			cs = append(cs, attrChange{name: name, bools: v.Value})
		}
	}
	str("instanceType", in.InstanceType)
	str("kernel", in.Kernel)
	str("ramdisk", in.Ramdisk)
	str("instanceInitiatedShutdownBehavior", in.InstanceInitiatedShutdownBehavior)
	str("sriovNetSupport", in.SriovNetSupport)
	boolean("disableApiTermination", in.DisableApiTermination)
	boolean("disableApiStop", in.DisableApiStop)
	boolean("sourceDestCheck", in.SourceDestCheck)
	boolean("ebsOptimized", in.EbsOptimized)
	boolean("enaSupport", in.EnaSupport)
	if in.UserData != nil {
		cs = append(cs, attrChange{name: "userData", blob: in.UserData.Value})
	}
	if len(in.Groups) > 0 {
		cs = append(cs, attrChange{name: "groupSet", list: in.Groups})
	}
	if len(in.BlockDeviceMappings) > 0 {
		cs = append(cs, attrChange{name: "blockDeviceMapping", bdm: in.BlockDeviceMappings})
	}
	if in.Attribute != "" {
		c := attrChange{name: in.Attribute, value: in.Value, blob: []byte(in.Value)}
		switch in.Attribute {
		case "disableApiTermination", "disableApiStop", "sourceDestCheck", "ebsOptimized", "enaSupport":
			b, err := strconv.ParseBool(in.Value)
			if err != nil {
				return nil, invalidParam("Value (%s) for parameter value is invalid. Expected a boolean.", in.Value)
			}
			c.bools = &b
		}
		cs = append(cs, c)
	}
	switch {
	case len(cs) == 0:
		return nil, missingParam("Attribute")
	case len(cs) > 1:
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "Fields for multiple attribute types specified: %s, %s", cs[0].name, cs[1].name)
	}
	return cs, nil
}

func notStopped(id string) error {
	return awserr.New(awserr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", id)
}

// ModifyInstanceAttribute changes one attribute: the instance type, user
// data, EBS optimisation and ENA only while stopped; shutdown behaviour,
// termination and stop protection, security groups and the root volume's
// DeleteOnTermination in any live state.
func (s *Service) ModifyInstanceAttribute(ctx context.Context, in *ec2api.ModifyInstanceAttributeRequest) error {
	if _, err := s.instances(); err != nil {
		return err
	}
	if in.InstanceId == "" {
		return missingParam("InstanceId")
	}
	cs, err := attrChanges(in)
	if err != nil {
		return err
	}
	c := cs[0]
	sc := scopeOf(ctx)
	var nr instance.Record
	err = s.st.Update(ctx, func(tx store.Tx) error {
		rs, err := loadInstances(tx, sc, []string{in.InstanceId})
		if err != nil {
			return err
		}
		r := rs[0]
		if r.State == instance.Terminated || r.State == instance.ShuttingDown {
			return awserr.New(awserr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in a valid state for this operation.", r.ID)
		}
		if err := applyAttr(tx, sc, &r, c); err != nil {
			return err
		}
		if err := dryRun(in.DryRun); err != nil {
			return err
		}
		r.Version++
		nr = r
		return store.PutJSON(tx, sc.key(instance.Kind, r.ID), "", r)
	})
	if err != nil {
		return err
	}
	s.kick(nr)
	return nil
}

func applyAttr(tx store.Tx, sc scope, r *instance.Record, c attrChange) error {
	stopped := r.State == instance.Stopped
	switch c.name {
	case "instanceType":
		if !stopped {
			return notStopped(r.ID)
		}
		t, ok := instanceTypes[c.value]
		if !ok {
			return invalidParam("Invalid value '%s' for InstanceType.", c.value)
		}
		if r.Architecture != "" && !contains(t.archs(), r.Architecture) {
			return invalidParam("The instance type '%s' does not support the architecture '%s' of the instance's AMI.", t.Name, r.Architecture)
		}
		r.InstanceType, r.VCPUs, r.MemoryMiB, r.Cores, r.Threads = t.Name, int(t.VCPUs), t.MemoryMiB, t.cores(), t.threadsPerCore()
	case "userData":
		if !stopped {
			return notStopped(r.ID)
		}
		if len(c.blob) > maxUserData {
			return invalidParam("User data is limited to %d bytes", maxUserData)
		}
		r.UserData = append([]byte(nil), c.blob...)
	case "instanceInitiatedShutdownBehavior":
		if c.value != instance.ShutdownStop && c.value != instance.ShutdownTerminate {
			return invalidParam("Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values are stop and terminate.", c.value)
		}
		r.ShutdownBehavior = c.value
	case "disableApiTermination":
		r.DisableAPITermination = deref(c.bools)
	case "disableApiStop":
		r.DisableAPIStop = deref(c.bools)
	case "sourceDestCheck":
		// kiln instances always check source and destination
		// (anti-spoofing is how the metadata service trusts addresses).
		if !deref(c.bools) {
			return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln enforces source/destination checking on every instance.")
		}
	case "ebsOptimized", "enaSupport":
		if !stopped {
			return notStopped(r.ID)
		}
		if c.name == "ebsOptimized" {
			r.EbsOptimized = deref(c.bools)
		}
	case "groupSet":
		var groups []instance.Group
		for _, id := range c.list {
			g, err := store.GetJSON[securityGroup](tx, sc.key(kindSecurityGroup, id))
			if errors.Is(err, store.ErrNotFound) || (err == nil && g.VpcID != r.VpcID) {
				return awserr.New(awserr.NotFound, "InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", id, r.VpcID)
			} else if err != nil {
				return err
			}
			groups = append(groups, instance.Group{ID: g.ID, Name: g.Name})
		}
		r.Groups = groups
	case "blockDeviceMapping":
		for _, m := range c.bdm {
			if m.DeviceName != r.RootDevice {
				return awserr.New(awserr.InvalidArgument, "InvalidInstanceAttributeValue", "No device is currently mapped at %s", m.DeviceName)
			}
			if m.Ebs != nil && m.Ebs.DeleteOnTermination != nil {
				r.DeleteOnTermination = *m.Ebs.DeleteOnTermination
			}
		}
	default:
		return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "Modifying the attribute '%s' is not supported by kiln.", c.name)
	}
	return nil
}
