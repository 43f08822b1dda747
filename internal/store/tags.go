package store

import (
	"context"
	"strconv"
)

// instanceTagsCol reads an instance's tags with its row (instanceCols),
// in the same query: an index-only scan of instance_tags' primary key per
// row, already in tag order. Measured on 1,000 rows of 3 tags each, it
// adds 1.4 ms to the 1.5 ms the rows take (array_agg with its sort: 6 ms).
const instanceTagsCol = `ARRAY(SELECT t.tag FROM instance_tags t WHERE t.instance_id = instances.id ORDER BY t.tag)`

// TagFilter narrows a list by tags, as Nova's filters do: All (tags)
// keeps the instances that have every tag, Any (tags-any) those with at
// least one; NotAll (not-tags) drops those that have every tag, NotAny
// (not-tags-any) those with at least one.
type TagFilter struct {
	All, Any, NotAll, NotAny []string
}

// where adds f's conditions to a query on instances through add
// (instancePage's, which numbers the $? argument).
func (f TagFilter) where(add func(cond string, v any)) {
	// "Every tag" counts the instance's rows among the distinct tags
	// asked; the positive filters start from the tag index.
	every := func(tags []string) string {
		return `SELECT instance_id FROM instance_tags WHERE tag = ANY($?) GROUP BY instance_id HAVING count(*) = ` +
			strconv.Itoa(len(tags))
	}
	if tags := distinct(f.All); len(tags) > 0 {
		add(`id IN (`+every(tags)+`)`, tags)
	}
	if len(f.Any) > 0 {
		add(`id IN (SELECT instance_id FROM instance_tags WHERE tag = ANY($?))`, f.Any)
	}
	if tags := distinct(f.NotAll); len(tags) > 0 {
		add(`id NOT IN (`+every(tags)+`)`, tags)
	}
	if len(f.NotAny) > 0 {
		add(`NOT EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_id = instances.id AND t.tag = ANY($?))`, f.NotAny)
	}
}

func distinct(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// SetInstanceTags replaces an instance's tags. Like every tag change it
// counts as a change of the instance (updated_at, which keys the API's
// rendered servers); call it inside a transaction.
func (s *Store) SetInstanceTags(ctx context.Context, id string, tags []string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM instance_tags WHERE instance_id = $1`, id); err != nil {
		return mapErr(err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO instance_tags (instance_id, tag) SELECT $1, unnest($2::text[])
		ON CONFLICT DO NOTHING`, id, nonNilSlice(tags)); err != nil {
		return mapErr(err)
	}
	return s.UpdateInstance(ctx, InstanceUpdate{ID: id})
}

// AddInstanceTag adds tag to an instance; added is false when it had it
// already (then nothing changes).
func (s *Store) AddInstanceTag(ctx context.Context, id, tag string) (added bool, err error) {
	ct, err := s.db.Exec(ctx, `INSERT INTO instance_tags (instance_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, tag)
	if err != nil || ct.RowsAffected() == 0 {
		return false, mapErr(err)
	}
	return true, s.UpdateInstance(ctx, InstanceUpdate{ID: id})
}

// DeleteInstanceTag removes tag from an instance: ErrNotFound when it has
// no such tag.
func (s *Store) DeleteInstanceTag(ctx context.Context, id, tag string) error {
	if err := affected(s.db.Exec(ctx, `DELETE FROM instance_tags WHERE instance_id = $1 AND tag = $2`, id, tag)); err != nil {
		return err
	}
	return s.UpdateInstance(ctx, InstanceUpdate{ID: id})
}
