package dev.likeness.pipeline.ideogram;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MagicPrompt, palettes and prices: the parts that need no model. */
class IdeogramPartsTest {

    @Test
    void magicPromptKeepsTheUsersWordsFirstAndIsDeterministicInTheSeed() {
        String p = "Place the woman at a sunlit café table in Siena.";
        String a = MagicPrompt.expand(p, Style.AUTO, null, 42);
        assertTrue(a.startsWith(p), a);
        assertTrue(a.length() > p.length() + 20, a);
        assertEquals(a, MagicPrompt.expand(p, Style.AUTO, null, 42), "same seed, same expansion");
        assertNotEquals(a, MagicPrompt.expand(p, Style.AUTO, null, 43), "another seed, another expansion");
        String real = MagicPrompt.expand(p, Style.REALISTIC, null, 42);
        String fiction = MagicPrompt.expand(p, Style.FICTION, null, 42);
        assertNotEquals(real, fiction);
        System.out.println("MagicPrompt REALISTIC: " + real);
        System.out.println("MagicPrompt FICTION:   " + fiction);
        String withPalette = MagicPrompt.expand(p, Style.AUTO, ColorPalette.preset("EMBER"), 42);
        assertTrue(withPalette.startsWith(p));
        assertTrue(withPalette.endsWith("colour scheme of crimson, orange, amber and espresso brown"), withPalette);
        assertTrue(MagicPrompt.expand("", Style.AUTO, null, 1).length() > 10);
    }

    @Test
    void magicPromptSkipsWhatThePromptAlreadySays() {
        for (long seed = 0; seed < 50; seed++) {
            String e = MagicPrompt.expand("portrait, golden-hour sunlight", Style.REALISTIC, null, seed);
            assertEquals(1, e.split("golden-hour", -1).length - 1, e);
        }
    }

    @Test
    void palettesInEveryFormAndTheirLimits() {
        assertEquals(ColorPalette.PRESET_NAMES.size(), 8);
        for (String name : ColorPalette.PRESET_NAMES) {
            assertEquals(4, ColorPalette.preset(name).members().size());
        }
        ColorPalette.Member m = ColorPalette.Member.hex("#b470b3", 0.49);
        assertEquals(new ColorPalette.Member(0xb4, 0x70, 0xb3, 0.49), m);
        assertEquals(new ColorPalette.Member(0xff, 0x00, 0xaa, 0.5), ColorPalette.Member.hex("#F0a", 0.5));
        assertThrows(IllegalArgumentException.class, () -> ColorPalette.Member.hex("#12345", 0.5));
        assertThrows(IllegalArgumentException.class, () -> new ColorPalette.Member(0, 0, 256, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new ColorPalette.Member(0, 0, 0, 0.01));
        assertThrows(IllegalArgumentException.class, () -> ColorPalette.preset("NEON"));
        assertThrows(IllegalArgumentException.class, () -> ColorPalette.of(List.of()));
    }

    @Test
    void speedsArePricedPerImage() {
        assertEquals(new BigDecimal("0.10"), RenderingSpeed.TURBO.price(1));
        assertEquals(new BigDecimal("0.15"), RenderingSpeed.BALANCED.price(1));
        assertEquals(new BigDecimal("0.20"), RenderingSpeed.QUALITY.price(1));
        assertEquals(new BigDecimal("0.60"), RenderingSpeed.BALANCED.price(4));
        assertTrue(RenderingSpeed.TURBO.steps() < RenderingSpeed.BALANCED.steps());
        assertTrue(RenderingSpeed.BALANCED.steps() < RenderingSpeed.QUALITY.steps());
        assertEquals(RenderingSpeed.BALANCED, RenderingSpeed.DEFAULT);
    }
}
