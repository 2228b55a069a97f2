package data_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/x/baryir/data"
)

// Degradations at fixed strengths, from a command line or built in code,
// applied with a seeded generator.
func ExampleParseSpec() {
	s, err := data.ParseSpec("rain:0.02,30+noise:15")
	if err != nil {
		panic(err)
	}
	fmt.Println(s, len(s.Steps()), s.String() == data.Mix(data.RainSpec(0.02, 30), data.Noise(15)).String())

	clean := data.EmbeddedTest()[0]
	noisy, err := data.Noise(60).Apply(clean, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		panic(err)
	}
	psnr, _ := data.PSNR(clean, noisy)
	fmt.Println(noisy.Name, psnr > 12.5 && psnr < 14.5)

	_, err = data.ParseSpec("jpeg:0")
	fmt.Println(err)
	// Output:
	// rain:0.02,30+noise:15 2 true
	// embedded/test/bliznaca_0.png+noise:60 true
	// data: jpeg level 0 out of range [1, 100]
}
