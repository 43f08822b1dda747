package store

import "context"

// Setting returns the value stored under key.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	return v, mapErr(err)
}

// SettingOrCreate returns the value under key, storing value first if the
// key is new. Concurrent callers all get the first stored value.
func (s *Store) SettingOrCreate(ctx context.Context, key, value string) (string, error) {
	_, err := s.db.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value)
	if err != nil {
		return "", mapErr(err)
	}
	return s.Setting(ctx, key)
}

// SetSetting stores value under key, replacing any old value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr(err)
}
