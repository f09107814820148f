package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fal-ai/ideogram/character input schema: defaults, enums, lists, palettes, style codes and their conflicts. */
class IdeogramCharacterInputTest {

    private static JsonNode j(String s) throws Exception {
        return Json.parse(s.replace('\'', '"'));
    }

    /** JSON with real double quotes (for texts that contain single quotes). */
    private static JsonNode raw(String s) throws Exception {
        return Json.parse(s);
    }

    private static JsonNode detail(String body) throws Exception {
        InputError e = assertThrows(InputError.class, () -> IdeogramCharacterInput.parse(j(body)));
        return e.body().get("detail");
    }

    private static final String BASE = "'prompt':'p','reference_image_urls':['https://x/a.png']";

    @Test
    void fillsEveryDefaultOfTheSpec() throws Exception {
        IdeogramCharacterInput in = IdeogramCharacterInput.parse(j("{" + BASE + ",'unknown':1}"));
        assertEquals(j("""
                {'image_urls':[],'rendering_speed':'BALANCED','color_palette':null,'style_codes':[],'style':'AUTO',
                 'expand_prompt':true,'num_images':1,'seed':null,'sync_mode':false,'prompt':'p','image_size':'square_hd',
                 'negative_prompt':'','reference_image_urls':['https://x/a.png'],'reference_mask_urls':[]}"""),
                in.toJson());
        assertNull(in.seed());
    }

    @Test
    void acceptsTheFullExampleAndEveryEnum() throws Exception {
        IdeogramCharacterInput in = IdeogramCharacterInput.parse(j("""
                {'rendering_speed':'BALANCED','style':'AUTO','expand_prompt':true,'num_images':1,'prompt':'Place the woman',
                 'image_size':'square_hd','reference_image_urls':['https://v3.fal.media/files/kangaroo/0rinwnj_Kn9Fsu2dK-aKm_image.png']}"""));
        assertEquals("BALANCED", in.renderingSpeed());
        for (String s : IdeogramCharacterInput.RENDERING_SPEEDS) {
            assertEquals(s, IdeogramCharacterInput.parse(j("{" + BASE + ",'rendering_speed':'" + s + "'}")).renderingSpeed());
        }
        for (String s : IdeogramCharacterInput.STYLES) {
            assertEquals(s, IdeogramCharacterInput.parse(j("{" + BASE + ",'style':'" + s + "'}")).style());
        }
        IdeogramCharacterInput all = IdeogramCharacterInput.parse(j("{" + BASE + """
                ,'reference_mask_urls':['m1','m2'],'image_urls':['s1','s2'],'num_images':8,'seed':5,'sync_mode':true,
                 'expand_prompt':false,'negative_prompt':'blurry','image_size':{'width':640,'height':480}}"""));
        assertEquals(List.of("m1", "m2"), all.referenceMaskUrls());
        assertEquals(List.of("s1", "s2"), all.imageUrls());
        assertEquals(8, all.numImages());
        assertEquals(j("{'width':640,'height':480}"), all.imageSize());
    }

    @Test
    void enumsAndRangesArePydanticErrors() throws Exception {
        assertEquals(raw("""
                [{"type":"literal_error","loc":["body","rendering_speed"],"msg":"Input should be 'TURBO', 'BALANCED' or 'QUALITY'","input":"FAST","ctx":{"expected":"'TURBO', 'BALANCED' or 'QUALITY'"}},
                 {"type":"literal_error","loc":["body","style"],"msg":"Input should be 'AUTO', 'REALISTIC' or 'FICTION'","input":"DESIGN","ctx":{"expected":"'AUTO', 'REALISTIC' or 'FICTION'"}},
                 {"type":"less_than_equal","loc":["body","num_images"],"msg":"Input should be less than or equal to 8","input":9,"ctx":{"le":8}}]"""),
                detail("{" + BASE + ",'rendering_speed':'FAST','style':'DESIGN','num_images':9}"));
    }

    @Test
    void referencesAreRequiredListsOfStrings() throws Exception {
        assertEquals(j("""
                [{'type':'missing','loc':['body','prompt'],'msg':'Field required','input':{}},
                 {'type':'missing','loc':['body','reference_image_urls'],'msg':'Field required','input':{}}]"""),
                detail("{}"));
        JsonNode d = detail("{'prompt':'p','reference_image_urls':'https://x/a.png','image_urls':[1]}");
        assertEquals(j("{'type':'string_type','loc':['body','image_urls',0],'msg':'Input should be a valid string','input':1}"), d.get(0));
        assertEquals(j("{'type':'list_type','loc':['body','reference_image_urls'],'msg':'Input should be a valid list','input':'https://x/a.png'}"), d.get(1));
        JsonNode empty = detail("{'prompt':'p','reference_image_urls':[]}");
        assertEquals("value_error", empty.get(0).get("type").asText());
        assertEquals(j("['body','reference_image_urls']"), empty.get(0).get("loc"));
    }

    @Test
    void styleCodesArePatternCheckedAndExclusiveWithStyleAndStyleImages() throws Exception {
        IdeogramCharacterInput ok = IdeogramCharacterInput.parse(j("{" + BASE + ",'style_codes':['AAFF5733','0133ff57'],'style':'AUTO'}"));
        assertEquals(List.of("AAFF5733", "0133ff57"), ok.styleCodes());
        assertEquals(raw("""
                [{"type":"string_pattern_mismatch","loc":["body","style_codes",1],"msg":"String should match pattern '^[0-9a-fA-F]{8}$'","input":"XYZ","ctx":{"pattern":"^[0-9a-fA-F]{8}$"}}]"""),
                detail("{" + BASE + ",'style_codes':['AAFF5733','XYZ']}"));
        JsonNode withStyle = detail("{" + BASE + ",'style_codes':['AAFF5733'],'style':'REALISTIC'}");
        assertEquals(1, withStyle.size());
        assertEquals("value_error", withStyle.get(0).get("type").asText());
        assertEquals(j("['body','style_codes']"), withStyle.get(0).get("loc"));
        assertTrue(withStyle.get(0).get("msg").asText().contains("style 'REALISTIC'"), withStyle.toString());
        JsonNode withImages = detail("{" + BASE + ",'style_codes':['AAFF5733'],'image_urls':['s']}");
        assertEquals(j("['body','style_codes']"), withImages.get(0).get("loc"));
        assertTrue(withImages.get(0).get("msg").asText().contains("image_urls"), withImages.toString());
    }

    @Test
    void palettesInFalsAndIdeogramsFormsAreNormalized() throws Exception {
        assertEquals(j("{'name':'EMBER'}"),
                IdeogramCharacterInput.parse(j("{" + BASE + ",'color_palette':{'name':'EMBER'}}")).colorPalette());
        assertEquals(j("{'members':[{'rgb':{'r':10,'g':0,'b':255},'color_weight':0.5},{'rgb':{'r':180,'g':112,'b':179},'color_weight':0.49}]}"),
                IdeogramCharacterInput.parse(j("{" + BASE + """
                        ,'color_palette':{'members':[{'rgb':{'r':10,'b':255}},{'color_hex':'#b470b3','color_weight':0.49}]}}""")).colorPalette());
        JsonNode bad = detail("{" + BASE + """
                ,'color_palette':{'members':[{'rgb':{'r':300}},{'color_hex':'b470b3'},{'color_weight':0.01,'rgb':{}}]}}""");
        assertEquals(3, bad.size(), bad.toString());
        assertEquals(j("{'type':'less_than_equal','loc':['body','color_palette','members',0,'rgb','r'],'msg':'Input should be less than or equal to 255','input':300,'ctx':{'le':255}}"), bad.get(0));
        assertEquals("string_pattern_mismatch", bad.get(1).get("type").asText());
        assertEquals(j("['body','color_palette','members',1,'color_hex']"), bad.get(1).get("loc"));
        assertEquals(j("['body','color_palette','members',2,'color_weight']"), bad.get(2).get("loc"));
        assertEquals(raw("""
                [{"type":"literal_error","loc":["body","color_palette","name"],"msg":"Input should be 'EMBER', 'FRESH', 'JUNGLE', 'MAGIC', 'MELON', 'MOSAIC', 'PASTEL' or 'ULTRAMARINE'","input":"NEON","ctx":{"expected":"'EMBER', 'FRESH', 'JUNGLE', 'MAGIC', 'MELON', 'MOSAIC', 'PASTEL' or 'ULTRAMARINE'"}}]"""),
                detail("{" + BASE + ",'color_palette':{'name':'NEON'}}"));
        JsonNode both = detail("{" + BASE + ",'color_palette':{'name':'EMBER','members':[{'color_hex':'#fff'}]}}");
        assertEquals("value_error", both.get(0).get("type").asText());
        assertEquals(j("['body','color_palette']"), both.get(0).get("loc"));
        assertEquals("too_long", detail("{" + BASE + ",'color_palette':{'members':[{},{},{},{},{},{},{},{},{}]}}")
                .get(0).get("type").asText());
        assertEquals("missing", detail("{" + BASE + ",'color_palette':{'members':[{'color_weight':0.3}]}}")
                .get(0).get("type").asText());
        assertEquals("model_type", detail("{" + BASE + ",'color_palette':'EMBER'}").get(0).get("type").asText());
    }
}
