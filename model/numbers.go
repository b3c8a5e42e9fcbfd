package model

import (
	"math"
	"strconv"
	"time"
)

// Significant is how many significant digits a measured number keeps in
// what backlogctl prints: a rate of 24.99214466902479 connections/s is
// shown as 24.99, a wait of 0.091086883 s as 0.09109.
const Significant = 4

// Round rounds a measured value to Significant digits; whole numbers (counts)
// and values too large to need it are returned as they are.
func Round(v float64) float64 {
	if v == math.Trunc(v) || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	mag := math.Floor(math.Log10(math.Abs(v)))
	if mag >= Significant-1 {
		return math.Round(v)
	}
	scale := math.Pow(10, Significant-1-mag)
	return math.Round(v*scale) / scale
}

// Num prints v rounded (Round), with no exponent and no trailing zeros.
func Num(v float64) string { return strconv.FormatFloat(Round(v), 'f', -1, 64) }

// RoundEvidence rounds every value of ev (Round) in place and returns it.
func RoundEvidence(ev map[string]float64) map[string]float64 {
	for k, v := range ev {
		ev[k] = Round(v)
	}
	return ev
}

// Duration prints d to three significant digits, as time.Duration writes
// it: 44.54419ms as 44.5ms, 4.00878387s as 4.01s.
func Duration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	unit := time.Duration(1)
	for u := d; u >= 1000; u /= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}
