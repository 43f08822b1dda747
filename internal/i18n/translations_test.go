package i18n

import (
	"strings"
	"testing"
)

// TestTranslationsFollowEnglish checks every translated key against the
// English catalogue: the key exists there and takes the same arguments.
func TestTranslationsFollowEnglish(t *testing.T) {
	for lang, c := range catalogues {
		if lang == Default {
			continue
		}
		for k, v := range c {
			e, ok := en[k]
			if !ok {
				t.Errorf("%s has %q, which English lacks", lang, k)
				continue
			}
			if got, want := strings.Count(v, "%"), strings.Count(e, "%"); got != want {
				t.Errorf("%s %q has %d %% verbs, English %d", lang, k, got, want)
			}
		}
	}
}
