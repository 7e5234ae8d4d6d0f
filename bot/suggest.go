package bot

import "strings"

// closest returns the candidate a person most likely meant by word, when
// word is near enough to it to be a typo: one edit for short words, two
// for longer ones. Farther guesses would point at the wrong thing more
// often than they help. Case does not count: Prod for prod is a typo too.
func closest(word string, candidates []string) (string, bool) {
	best, bestDist := "", len(word)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 1
	if len(word) > 4 {
		limit = 2
	}
	return best, best != word && bestDist <= limit
}

// editDistance is the optimal string alignment distance between a and b:
// Levenshtein plus swapped neighbours, the commonest typo.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Inputs are names of at most a few hundred bytes; three rows suffice.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
