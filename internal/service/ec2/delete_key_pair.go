package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// DeleteKeyPair deletes a key pair by name or ID. As on AWS, deleting a
// name that does not exist succeeds; an unknown ID is an error.
func (s *Service) DeleteKeyPair(ctx context.Context, in *ec2api.DeleteKeyPairRequest) (*ec2api.DeleteKeyPairResult, error) {
	sc := scopeOf(ctx)
	if in.KeyName == "" && in.KeyPairId == "" {
		return nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
	}
	var deleted string
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var kp keyPair
		var err error
		if in.KeyPairId != "" {
			kp, err = store.GetJSON[keyPair](tx, sc.key(kindKeyPair, in.KeyPairId))
			if errors.Is(err, store.ErrNotFound) {
				return keyNotFound(in.KeyPairId)
			}
		} else {
			kp, err = store.GetJSONByName[keyPair](tx, sc.account, sc.region, kindKeyPair, in.KeyName)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
		}
		if err != nil {
			return err
		}
		deleted = kp.ID
		return tx.Delete(sc.key(kindKeyPair, kp.ID))
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.DeleteKeyPairResult{Return: ptr(true), KeyPairId: deleted}, nil
}
