"""Draws examples/character.png, the sample reference image the README's main command uses: a simple cartoon
character (a round-headed robot with a red scarf) on a white background, made here with Pillow's drawing
primitives so the repository ships nothing it did not make. Rerun: tools/reference/.venv/bin/python
tools/examples/make_character.py (any Python with Pillow)."""
import pathlib

from PIL import Image, ImageDraw

W, H = 512, 640
OUT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "character.png"


def main():
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    # shadow on the ground
    d.ellipse((130, 585, 382, 625), fill=(225, 225, 232))
    # legs and feet
    for x in (200, 282):
        d.rounded_rectangle((x, 470, x + 30, 580), radius=12, fill=(90, 110, 140))
        d.ellipse((x - 18, 560, x + 48, 598), fill=(60, 70, 90))
    # body
    d.rounded_rectangle((150, 300, 362, 490), radius=40, fill=(70, 150, 220), outline=(30, 70, 120), width=6)
    d.rounded_rectangle((205, 350, 307, 430), radius=14, fill=(235, 245, 255), outline=(30, 70, 120), width=4)
    for i, c in enumerate(((240, 80, 80), (250, 200, 60), (90, 200, 120))):
        d.ellipse((218 + i * 28, 378, 238 + i * 28, 398), fill=c)
    # arms
    d.rounded_rectangle((100, 320, 150, 450), radius=22, fill=(70, 150, 220), outline=(30, 70, 120), width=5)
    d.rounded_rectangle((362, 320, 412, 450), radius=22, fill=(70, 150, 220), outline=(30, 70, 120), width=5)
    d.ellipse((96, 440, 154, 496), fill=(250, 200, 60), outline=(160, 110, 20), width=4)
    d.ellipse((358, 440, 416, 496), fill=(250, 200, 60), outline=(160, 110, 20), width=4)
    # head
    d.ellipse((140, 90, 372, 322), fill=(120, 185, 240), outline=(30, 70, 120), width=6)
    d.rounded_rectangle((180, 160, 332, 262), radius=40, fill=(25, 35, 60))
    for x in (215, 265):  # eyes
        d.ellipse((x, 185, x + 34, 219), fill=(120, 240, 255))
        d.ellipse((x + 10, 193, x + 22, 205), fill=(255, 255, 255))
    d.arc((225, 215, 290, 250), start=20, end=160, fill=(120, 240, 255), width=5)  # smile
    # antenna
    d.line((256, 92, 256, 40), fill=(30, 70, 120), width=6)
    d.ellipse((238, 18, 274, 54), fill=(240, 80, 80), outline=(140, 30, 30), width=4)
    # red scarf
    d.rounded_rectangle((160, 296, 352, 330), radius=16, fill=(220, 50, 60), outline=(130, 20, 30), width=4)
    d.polygon([(320, 320), (350, 320), (372, 400), (336, 392)], fill=(220, 50, 60), outline=(130, 20, 30))
    img.save(OUT, format="PNG", optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
