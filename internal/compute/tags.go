package compute

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// maxTags is Nova's limit of tags on one server (MAX_TAG_COUNT).
const maxTags = 50

// checkTag applies Nova's tag rules: 1 to 60 characters, neither '/' nor
// ',' (the list filters split on commas, and a tag is a URL segment).
func checkTag(tag string) error {
	if tag == "" || utf8.RuneCountInString(tag) > 60 || strings.ContainsAny(tag, "/,") {
		return fault.Invalid("tags", "Tag '%s' is invalid. It must be a non empty string without characters '/' and ','.", tag)
	}
	return validate.Text("tags", tag, 60)
}

// checkTags checks a whole set of tags (PUT /tags, a launch's tags).
func checkTags(tags []string) error {
	if len(tags) > maxTags {
		return fault.Invalid("tags", "Invalid input for field/attribute tags. The number of tags exceeded the per-server limit %d", maxTags)
	}
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			return err
		}
	}
	return nil
}

// Tags returns an instance's tags, sorted.
func (s *Service) Tags(ctx context.Context, caller *model.Token, id string) ([]string, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.ListServerTags)
	if err != nil {
		return nil, err
	}
	return in.Tags, nil
}

// HasTag answers nil when an instance has tag, and not found when not.
func (s *Service) HasTag(ctx context.Context, caller *model.Token, id, tag string) error {
	in, err := s.visibleInstance(ctx, caller, id, policy.ShowServerTag)
	if err != nil {
		return err
	}
	if !slices.Contains(in.Tags, tag) {
		return noTag(in.ID, tag)
	}
	return nil
}

func noTag(id, tag string) error { return fault.NotFound("Server %s has no tag '%s'", id, tag) }

// SetTags replaces an instance's tags and returns them, sorted.
func (s *Service) SetTags(ctx context.Context, caller *model.Token, id string, tags []string) ([]string, error) {
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	tags = slices.Compact(slices.Sorted(slices.Values(tags)))
	err := s.changeTags(ctx, caller, id, policy.ReplaceServerTags, "update tags", func(tx *store.Store, in model.Instance) error {
		return tx.SetInstanceTags(ctx, in.ID, tags)
	})
	return tags, err
}

// AddTag adds tag to an instance; added is false when it had it already.
func (s *Service) AddTag(ctx context.Context, caller *model.Token, id, tag string) (added bool, err error) {
	if err := checkTag(tag); err != nil {
		return false, err
	}
	err = s.changeTags(ctx, caller, id, policy.AddServerTag, "update tag", func(tx *store.Store, in model.Instance) error {
		if slices.Contains(in.Tags, tag) {
			return nil
		}
		if len(in.Tags) >= maxTags {
			return fault.Invalid("tags", "The number of tags exceeded the per-server limit %d", maxTags)
		}
		added, err = tx.AddInstanceTag(ctx, in.ID, tag)
		return err
	})
	return added, err
}

// DeleteTag removes tag from an instance.
func (s *Service) DeleteTag(ctx context.Context, caller *model.Token, id, tag string) error {
	return s.changeTags(ctx, caller, id, policy.DeleteServerTag, "delete tag", func(tx *store.Store, in model.Instance) error {
		return fault.NotFoundAs(tx.DeleteInstanceTag(ctx, in.ID, tag), noTag(in.ID, tag))
	})
}

// DeleteTags removes every tag of an instance.
func (s *Service) DeleteTags(ctx context.Context, caller *model.Token, id string) error {
	return s.changeTags(ctx, caller, id, policy.DeleteServerTags, "delete tags", func(tx *store.Store, in model.Instance) error {
		return tx.SetInstanceTags(ctx, in.ID, nil)
	})
}

// changeTags runs change with the instance's row locked (so the limit
// of 50 holds under concurrent adds) once its state allows tag changes.
// Nova's tag API does not look at the lock.
func (s *Service) changeTags(ctx context.Context, caller *model.Token, id string, op policy.Op, verb string,
	change func(tx *store.Store, in model.Instance) error) error {
	return s.changeInstance(ctx, caller, id, op, func(tx *store.Store, in model.Instance) error {
		if err := checkChangeable(in, verb, false); err != nil {
			return err
		}
		return change(tx, in)
	})
}
