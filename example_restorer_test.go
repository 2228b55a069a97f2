package baryir_test

import (
	"fmt"
	"image"
	"image/color"
	"log"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// Restoring a photo: open the weights (a .safetensors file or a PyTorch
// .pth checkpoint; the architecture is read from the tensors), restore a
// *data.Image (data.Load reads PNG, JPEG, BMP, TIFF, WebP and .npy) or any
// image.Image, and save the result (data.Save, or png.Encode: a
// *data.Image is an image.Image). The zero RestorerOptions restore on the
// CPU, in one pass for an image that fits 2 GiB.
func ExampleOpenRestorer() {
	r, err := baryir.OpenRestorer("testdata/barynet_tiny.pth", baryir.RestorerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	photo := data.EmbeddedTest()[0] // a 160x160 crop; data.Load("photo.jpg") reads a file
	restored, err := r.Restore(photo)
	if err != nil {
		log.Fatal(err)
	}
	tiles, passes, _ := r.Tiles(photo.H, photo.W)
	fmt.Println(restored.Bounds(), tiles, "tile,", passes, "pass")

	// Any image.Image goes in as well.
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	out, err := r.Restore(gray)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Bounds(), out.ColorModel() == color.RGBA64Model)
	// Output:
	// (0,0)-(160,160) 1 tile, 1 pass
	// (0,0)-(40,30) true
}
