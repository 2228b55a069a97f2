package data

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// flat returns an h×w image of one colour.
func flat(h, w int, r, g, b float32) *Image {
	im := NewImage("flat", h, w)
	n := h * w
	for i := 0; i < n; i++ {
		im.Pix[i], im.Pix[n+i], im.Pix[2*n+i] = r, g, b
	}
	return im
}

// inked counts the pixels of rect that are not white.
func inked(im image.Image, rect image.Rectangle) int {
	n := 0
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			if r, g, b, _ := im.At(x, y).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
				n++
			}
		}
	}
	return n
}

func TestGridLayoutWithoutLabels(t *testing.T) {
	red, blue := flat(20, 30, 1, 0, 0), flat(10, 16, 0, 0, 1)
	g := Grid{Tiles: [][]GridTile{
		{{Image: red}, {Image: blue}},
		{{Image: nil}, {Image: red}},
	}}
	im, err := g.Render()
	require.NoError(t, err)
	// columns are as wide as their widest picture, rows as tall as their
	// tallest, with an 8-pixel margin and gap
	require.Equal(t, image.Rect(0, 0, 8+30+8+30+8, 8+20+8+20+8), im.Bounds())
	// red fills its cell; blue is centred in a 30x20 cell at (46,8)
	require.Equal(t, color.RGBA{255, 0, 0, 255}, im.At(8, 8))
	require.Equal(t, color.RGBA{255, 0, 0, 255}, im.At(37, 27))
	require.Equal(t, color.RGBA{0, 0, 255, 255}, im.At(46+7, 8+5))
	require.Equal(t, color.RGBA{255, 255, 255, 255}, im.At(46+6, 8+4), "outside the centred picture")
	// the nil tile stays blank
	require.Zero(t, inked(im, image.Rect(8, 36, 38, 56)))
}

func TestGridLabelsAreDrawn(t *testing.T) {
	tile := flat(32, 32, 0.5, 0.5, 0.5)
	g := Grid{
		Title:   "Restored photos",
		Columns: []string{"degraded", "BaryIR"},
		Rows:    []string{"noise σ=25\nphoto 1", "rain"},
		Tiles: [][]GridTile{
			{{Image: tile}, {Image: tile, Caption: "PSNR 30.12 dB\nSSIM 0.871"}},
			{{Image: tile}, {Image: tile}},
		},
	}
	im, err := g.Render()
	require.NoError(t, err)
	faces, err := newGridFaces()
	require.NoError(t, err)
	l, err := g.layout(faces)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, l.width, l.height), im.Bounds())

	// every band holds text: title, both column titles, both row labels, the caption
	require.Greater(t, l.titleH, 0)
	require.Positive(t, inked(im, image.Rect(0, 0, l.width, l.colTitleY)), "title")
	for c := range 2 {
		require.Positive(t, inked(im, image.Rect(l.colX[c], l.colTitleY, l.colX[c]+l.colW[c], l.colTitleY+l.colTitleH)), "column title %d", c)
	}
	for r := range 2 {
		require.Positive(t, inked(im, image.Rect(0, l.rowY[r], l.colX[0], l.rowY[r]+l.rowH[r])), "row label %d", r)
	}
	require.Positive(t, inked(im, image.Rect(l.colX[1], l.rowY[0]+l.rowH[0], l.colX[1]+l.colW[1], l.rowY[1])), "caption")
	require.Zero(t, inked(im, image.Rect(l.colX[0], l.rowY[0]+l.rowH[0], l.colX[0]+l.colW[0], l.rowY[1])), "no caption under the first tile")
	require.Zero(t, l.capH[1], "second row has no captions, so no caption band")

	// two-line labels and captions take two lines, and the caption widens its column
	require.Equal(t, 2*lineHeight(faces.text)+gridPad/2, l.capH[0])
	require.Greater(t, l.colW[1], 32)
	require.Greater(t, l.labelW, textWidth(faces.bold, "rain"))
}

func TestGridValidation(t *testing.T) {
	tile := GridTile{Image: flat(4, 4, 0, 0, 0)}
	tests := []struct {
		name string
		grid Grid
		want string
	}{
		{"no rows", Grid{}, "no rows"},
		{"empty row", Grid{Tiles: [][]GridTile{{}}}, "row 0 has no tiles"},
		{"ragged", Grid{Tiles: [][]GridTile{{tile, tile}, {tile}}}, "ragged: row 0 has 2 tiles, row 1 has 1"},
		{"column titles", Grid{Columns: []string{"a"}, Tiles: [][]GridTile{{tile, tile}}}, "1 column titles for 2 columns"},
		{"row labels", Grid{Rows: []string{"a", "b"}, Tiles: [][]GridTile{{tile}}}, "2 row labels for 1 rows"},
		{"all blank", Grid{Tiles: [][]GridTile{{{Caption: "x"}}}}, "no pictures"},
		{"bad image", Grid{Tiles: [][]GridTile{{{Image: &Image{Name: "bad", H: 2, W: 2, Pix: make([]float32, 5)}}}}}, "tile (0,0) bad: 5 values"},
		{"huge label", Grid{Rows: []string{strings.Repeat("\n", 1<<18)}, Tiles: [][]GridTile{{tile}}}, "Mpixel limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.grid.Render()
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, tt.grid.WritePNG(filepath.Join(t.TempDir(), "g.png")), tt.want)
		})
	}
}

func TestGridWritePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grid.png")
	g := Grid{Columns: []string{"clean"}, Tiles: [][]GridTile{{{Image: randomImage("r", 24, 40, 3), Caption: "photo"}}}}
	require.NoError(t, g.WritePNG(path))
	back, err := Load(path)
	require.NoError(t, err)
	want, err := g.Render()
	require.NoError(t, err)
	require.Equal(t, want.Bounds().Dy(), back.H)
	require.Equal(t, want.Bounds().Dx(), back.W)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")
}
