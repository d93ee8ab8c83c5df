package pow

// escalateEvery is how many recent joins from one address double the work.
const escalateEvery = 10

// Required is the maxnumber to ask of an address that made recentJoins joins
// in the last minute before this one, in a room whose pow_work is base: base
// for the first 10, doubled for each further 10, at most MaxNumber. A base of
// 0 (or less) means the room asks no work and gives 0.
func Required(base int, recentJoins int64) int {
	if base <= 0 {
		return 0
	}
	if base >= MaxNumber {
		return MaxNumber
	}
	work := base
	for doublings := max(recentJoins, 0) / escalateEvery; doublings > 0; doublings-- {
		work *= 2
		if work >= MaxNumber {
			return MaxNumber
		}
	}
	return work
}
